#!/usr/bin/env bash
# Subproject test: builds tests/install/subproject, a project that takes memkit in from source
# as a library only, once through FetchContent (offline: FETCHCONTENT_SOURCE_DIR_MEMKIT) and once
# through add_subdirectory, with the CLI's, the checked mode's and the tests' dependencies made
# unfindable (CMAKE_DISABLE_FIND_PACKAGE_*), and runs what it built.
#
# usage: tests/install/subproject.sh SOURCE_DIR BUILD_DIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work="$build_dir/subproject_test"

cache_value() {
    sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" | head -n1
}
cxx=$(cache_value CMAKE_CXX_COMPILER)
cc=$(cache_value CMAKE_C_COMPILER)

generator=()
if command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
fi

# Were any of these found, the configure fails (a REQUIRED package that is disabled is an error).
unfindable=()
for pkg in CLI11 fmt nlohmann_json GTest benchmark PkgConfig; do
    unfindable+=("-DCMAKE_DISABLE_FIND_PACKAGE_$pkg=ON")
done

rm -rf "$work"
mkdir -p "$work"

for via in fetchcontent subdirectory; do
    echo "== memkit through $via, library only"
    # No CMAKE_BUILD_TYPE: the project checks that memkit leaves it alone.
    cmake -S "$here/subproject" -B "$work/$via" "${generator[@]}" --no-warn-unused-cli \
        -DCMAKE_C_COMPILER="${cc:-cc}" -DCMAKE_CXX_COMPILER="${cxx:-c++}" \
        -DMEMKIT_VIA="$via" -DMEMKIT_SOURCE="$source_dir" \
        -DFETCHCONTENT_SOURCE_DIR_MEMKIT="$source_dir" -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
        "${unfindable[@]}"
    cmake --build "$work/$via" --target subproject_api subproject_malloc
    "$work/$via/subproject_api"
    "$work/$via/subproject_malloc"
    echo "memkit through $via: ok"
done
echo "subproject test passed"
