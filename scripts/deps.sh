#!/usr/bin/env bash
# Installs the Debian packages memkit needs to build and test.
# Only missing packages are installed; nothing is done when all are present.
# Used by scripts/run.sh and scripts/test.sh.
set -euo pipefail

# The one list of build/test dependencies. Extend here.
PACKAGES=(
    build-essential
    g++
    cmake
    ninja-build
    pkg-config
    git
    libgtest-dev
    libgmock-dev
    googletest
    libbenchmark-dev
    libboost-dev
    libcli11-dev
    libfmt-dev
    nlohmann-json3-dev
    valgrind
    clang
    libclang-rt-14-dev
    procps
    smem
    util-linux
    python3
    sqlite3
    # The checked mode (libmemkit-checked.so, memkit check): the unwinder, the symbolizer, and
    # the disassembler that tells a fault's access size.
    libunwind-dev
    libdw-dev
    libcapstone-dev
    # memkit profile: the pprof files are gzipped (zlib); tests read them with Go's pprof.
    zlib1g-dev
    golang-go
    # Tests of the live view (tests/test_live.sh): `promtool check metrics` on `memkit metrics`
    # (prometheus), the JSON of `memkit stats --json` read with jq.
    prometheus
    jq
    # Tests of `memkit report`'s page (tests/test_report_html.sh): loaded in headless Chromium.
    chromium
    # The allocators `memkit bench` measures memkit against.
    libjemalloc2
    libtcmalloc-minimal4
    libmimalloc2.0
)

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
    echo "deps.sh: all ${#PACKAGES[@]} packages installed"
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
