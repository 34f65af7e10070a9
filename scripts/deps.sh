#!/usr/bin/env bash
# Installs the Debian packages memkit needs, by group:
#   deps.sh run    what scripts/run.sh builds: the libraries, the checked library, the CLI and
#                  its workloads (the compiler, CMake, Ninja, pkg-config and the libraries the
#                  CLI and libmemkit-checked.so link)
#   deps.sh test   everything scripts/test.sh needs: the run group, plus the test and benchmark
#                  frameworks, clang for the fuzzers, the tools the tests drive and the
#                  allocators `memkit bench` compares against (the default)
#   deps.sh --list-run | --list-test   print a group's packages, one a line, install nothing
# Only missing packages are installed; nothing is done when all are present.
# Used by scripts/run.sh (run) and scripts/test.sh (test).
set -euo pipefail

# One list per group; a package is in one list only. `test` installs RUN_PACKAGES too.
RUN_PACKAGES=(
    g++
    cmake
    ninja-build
    pkg-config
    # The CLI (tools/memkit): its command line, formatting and JSON output.
    libcli11-dev
    libfmt-dev
    nlohmann-json3-dev
    # The checked mode (libmemkit-checked.so, memkit check): the unwinder, the symbolizer, and
    # the disassembler that tells a fault's access size.
    libunwind-dev
    libdw-dev
    libcapstone-dev
    # memkit profile writes gzipped pprof files (zlib); memkit's symbolizer also uses libdw.
    zlib1g-dev
)
TEST_PACKAGES=(
    build-essential
    git
    libgtest-dev
    libgmock-dev
    googletest
    libbenchmark-dev
    libboost-dev
    valgrind
    clang
    libclang-rt-14-dev
    procps
    smem
    util-linux
    python3
    sqlite3
    # memkit profile's tests read its pprof files with Go's pprof (go tool pprof).
    golang-go
    # Tests of the live view (tests/test_live.sh): `promtool check metrics` on `memkit metrics`
    # (prometheus), the JSON of `memkit stats --json` read with jq.
    prometheus
    jq
    # Tests of `memkit report`'s page (tests/test_report_html.sh) and tests/test_pictures.sh, which
    # loads every SVG memkit draws in headless Chromium and measures its labels in the browser's
    # layout (with a font that has the glyphs).
    chromium
    fonts-dejavu-core
    # The allocators `memkit bench` measures memkit against.
    libjemalloc2
    libtcmalloc-minimal4
    libmimalloc2.0
)

group=${1:-test}
case $group in
    run) PACKAGES=("${RUN_PACKAGES[@]}") ;;
    test) PACKAGES=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
    --list-run) printf '%s\n' "${RUN_PACKAGES[@]}"; exit 0 ;;
    --list-test) printf '%s\n' "${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; exit 0 ;;
    *)
        echo "usage: $0 [run|test|--list-run|--list-test]" >&2
        exit 2
        ;;
esac

export DEBIAN_FRONTEND=noninteractive

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps.sh: all ${#PACKAGES[@]} packages of group '$group' installed"
    exit 0
fi

echo "deps.sh: missing packages: ${missing[*]}"

if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: not running as root; install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

apt_install() {
    apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

if ! apt-get update; then
    echo "deps.sh: apt-get update failed" >&2
    exit 1
fi

if apt_install "${missing[@]}"; then
    echo "deps.sh: installed ${missing[*]}"
    exit 0
fi

# The batch failed: install one by one to name the package(s) at fault.
failed=()
for pkg in "${missing[@]}"; do
    if ! is_installed "$pkg" && ! apt_install "$pkg"; then
        echo "deps.sh: failed to install $pkg" >&2
        failed+=("$pkg")
    fi
done
if [[ ${#failed[@]} -ne 0 ]]; then
    exit 1
fi
echo "deps.sh: installed ${missing[*]}"
