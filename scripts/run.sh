#!/usr/bin/env bash
# README command 1: install what the libraries, the CLI and the bundled workload need (deps.sh
# run), build only those (the `run` preset: no tests, benchmarks or examples) and run the
# bundled workload (memkit-lisp, a Lisp interpreter running its demo program) on memkit's
# malloc, printing memkit's heap report when it exits. Extra arguments go to `memkit run`, e.g.
# `bash scripts/run.sh --json heap.json` or `bash scripts/run.sh -- python3 script.py`.
# scripts/test.sh installs and builds everything else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh run
cmake --preset run
cmake --build --preset run

exec build/run/bin/memkit run "$@"
