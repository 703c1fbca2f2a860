#!/bin/sh
# Proves that an installed libkrt is usable from outside this tree: installs BUILD_DIR into a
# temporary prefix, builds examples/endpoints against it twice (CMake find_package(krt), then the
# example's Makefile through pkg-config), and runs both builds, checking the endpoints they print.
#
# usage: test_install.sh BUILD_DIR SRC_DIR
#
# When BUILD_DIR was configured with KRT_SANITIZE=ON the installed library carries ASan/UBSan, so
# the example is compiled and linked with the same -fsanitize flags (the exported targets and krt.pc
# already add them at link time; passing them here also instruments the example itself).
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SRC_DIR" >&2
    exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
SRC_DIR=$(cd "$2" && pwd)
EXAMPLE="$SRC_DIR/examples/endpoints"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/krt-install-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM HUP

fail() {
    echo "test_install: FAIL: $*" >&2
    exit 1
}

SAN_FLAGS=""
if grep -q '^KRT_SANITIZE:BOOL=ON$' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
    echo "test_install: $BUILD_DIR is a sanitizer build: building the example with $SAN_FLAGS"
fi

# The line the built-in scenario prints for the first flush (see endpoints.c).
EXPECTED='flush 1: + endpoints default/web [10.0.0.1:8080 10.0.0.2:8080]'

# check_run NAME BINARY: runs the example (built-in scenario, then a manifest directory) and checks
# its output.
check_run() {
    name=$1
    bin=$2
    status=0
    "$bin" >"$TMP/$name.out" 2>"$TMP/$name.err" || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$TMP/$name.out" "$TMP/$name.err" >&2
        fail "$name: the example exited with status $status"
    fi
    grep -qxF "$EXPECTED" "$TMP/$name.out" || {
        cat "$TMP/$name.out" "$TMP/$name.err" >&2
        fail "$name: output lacks the line: $EXPECTED"
    }
    grep -q '^digraph' "$TMP/$name.out" || fail "$name: output lacks the DOT graph"

    status=0
    "$bin" "$TMP/manifests" >"$TMP/$name.dir.out" 2>"$TMP/$name.dir.err" || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$TMP/$name.dir.out" "$TMP/$name.dir.err" >&2
        fail "$name: the example exited with status $status on a manifest directory"
    fi
    grep -qxF 'flush 1: + endpoints team/svc [192.168.0.7:80 192.168.0.10:80]' \
        "$TMP/$name.dir.out" || {
        cat "$TMP/$name.dir.out" "$TMP/$name.dir.err" >&2
        fail "$name: wrong endpoints for the manifest directory"
    }
    echo "test_install: $name: ok"
}

# A manifest directory: a List file, a single-object file, an unready pod, and a file to ignore.
mkdir "$TMP/manifests"
cat >"$TMP/manifests/pods.json" <<'JSON'
{"kind": "List", "items": [
  {"kind": "Pod", "metadata": {"namespace": "team", "name": "a", "labels": {"app": "x", "v": "1"}},
   "status": {"podIP": "192.168.0.10", "conditions": [{"type": "Ready", "status": "True"}]}},
  {"kind": "Pod", "metadata": {"namespace": "team", "name": "b", "labels": {"app": "x"}},
   "status": {"podIP": "192.168.0.7", "conditions": [{"type": "Ready", "status": "True"}]}},
  {"kind": "Pod", "metadata": {"namespace": "team", "name": "c", "labels": {"app": "x"}},
   "status": {"podIP": "192.168.0.8", "conditions": [{"type": "Ready", "status": "False"}]}}
]}
JSON
cat >"$TMP/manifests/svc.json" <<'JSON'
{"kind": "Service", "metadata": {"namespace": "team", "name": "svc"},
 "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
JSON
echo 'not json' >"$TMP/manifests/notes.txt"

# 1. Install.
cmake --install "$BUILD_DIR" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 || {
    cat "$TMP/install.log" >&2
    fail "cmake --install $BUILD_DIR"
}

# 2. CMake consumer: find_package(krt) + krt::krt.
cmake -S "$EXAMPLE" -B "$TMP/build" -DCMAKE_PREFIX_PATH="$TMP/prefix" \
    -DCMAKE_C_FLAGS="$SAN_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$SAN_FLAGS" \
    >"$TMP/cmake.log" 2>&1 || {
    cat "$TMP/cmake.log" >&2
    fail "configuring examples/endpoints with find_package(krt)"
}
cmake --build "$TMP/build" >>"$TMP/cmake.log" 2>&1 || {
    cat "$TMP/cmake.log" >&2
    fail "building examples/endpoints with CMake"
}
check_run cmake "$TMP/build/endpoints"

# 3. pkg-config consumer: the example's Makefile. krt.pc is in lib/pkgconfig or, with a
# multiarch libdir, lib/<triplet>/pkgconfig.
PC=$(find "$TMP/prefix" -name krt.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$PC" ] || fail "no krt.pc under $TMP/prefix"
mkdir "$TMP/make"
(
    cd "$TMP/make"
    PKG_CONFIG_PATH=$(dirname "$PC") make -f "$EXAMPLE/Makefile" \
        CFLAGS="-O1 -g $SAN_FLAGS" LDFLAGS="$SAN_FLAGS"
) >"$TMP/make.log" 2>&1 || {
    cat "$TMP/make.log" >&2
    fail "building examples/endpoints with its Makefile (pkg-config krt)"
}
check_run make "$TMP/make/endpoints"

echo "test_install: PASS"
