#!/usr/bin/env bash
# README command 1: install dependencies, build the release preset and run
# the buddy allocator simulation. Extra arguments go to `memkit buddy simulate`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh
cmake --preset release
cmake --build --preset release

exec build/release/bin/memkit buddy simulate "$@"
