#!/usr/bin/env bash
# README command 1: install dependencies, build the release preset and run the bundled
# workload (memkit-lisp, a Lisp interpreter running its demo program) on memkit's malloc,
# printing memkit's heap report when it exits. Extra arguments go to `memkit run`, e.g.
# `bash scripts/run.sh --json heap.json` or `bash scripts/run.sh -- python3 script.py`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh
cmake --preset release
cmake --build --preset release

exec build/release/bin/memkit run "$@"
