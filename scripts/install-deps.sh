#!/usr/bin/env bash
# Installs the Debian 12 packages that krtgate's build and tests need.
#
# The package list below is the single source of truth: add a package there, with one line saying
# why. Present packages are detected with dpkg-query; missing ones are installed with apt-get when
# running as root, otherwise the exact command to run is printed and the script exits non-zero.
set -euo pipefail

# package                 reason (one line each; keep this the only list)
PACKAGES_TABLE='
build-essential           C compiler (gcc), make, libc headers; gcc also provides libasan/libubsan
cmake                     build system generator (CMakeLists.txt needs >= 3.25)
pkg-config                how CMake finds every library below, and how users consume krt.pc
git                       version control; CI starts from a clone
curl                      real HTTP client for integration tests
libjansson-dev            JSON objects: engine inputs, debug dumps, manifests
libxxhash-dev             XXH3 64-bit content hash of engine objects
uthash-dev                header-only hash tables and lists (uthash.h)
libcmocka-dev             unit test framework for tests/
libuv1-dev                event loop for net/ (sockets, timers)
libssl-dev                OpenSSL: TLS with ALPN h2/http1.1 in net/
libnghttp2-dev            HTTP/2 for gRPC (xDS), proxy and Kubernetes client
libhttp-parser-dev        HTTP/1.1 codec in net/
libprotobuf-c-dev         protobuf runtime for xDS messages
protobuf-c-compiler       protoc-gen-c: generates C code from xds/*.proto
protobuf-compiler         protoc, used with protoc-gen-c and by test tooling
libprotobuf-dev           well-known .proto files (google/protobuf/*.proto) imported by xds/
libyaml-dev               YAML manifests (krtgate run DIR, kubeconfig)
libpcre2-dev              regular-expression route matches
libcrypt-dev              crypt(3): bcrypt / SHA-crypt htpasswd entries for basic auth (proxy/authn.c)
valgrind                  memcheck run of the engine tests in make test
clang                     libFuzzer fuzz targets and a second compiler for warnings
libclang-rt-14-dev        clang sanitizer and libFuzzer runtimes
python3-protobuf          Python protobuf for test clients and golden-file tools
nghttp2-client            nghttp and h2load: real HTTP/2 peers for net/ integration tests, h2 load in bench/proxy_vs_nginx.sh
python3-grpcio            gRPC C-core peer (own HTTP/2 stack) for net/ and xds/ interop tests
gnuplot-nox               SVG plots of krtgate bench (bench/scale/plot.sh: cost per change against cluster size)
nginx-light               bench/proxy_vs_nginx.sh: the reference reverse proxy and the fixed-answer backend (has http_v2 and stub_status)
wrk                       bench/proxy_vs_nginx.sh: HTTP/1.1 keep-alive load with latency percentiles
python3-yaml              PyYAML for tests/translate/golden/derive_conformance.py (regenerates conf-* fixtures)
openssl                   openssl CLI: s_client in tests/proxy/test_l4.c, certificates of the TLS backends in tests/conformance/runner.py
python3-kubernetes        real Kubernetes client (list, watch, status, leases, TokenReview) driving tests/kube/apiserver
python3-h2                sans-IO HTTP/2: tests/kube/apiserver --http2 and the conformance runner h2c echo backend
'

packages=()
while read -r name _reason; do
    [[ -z "$name" ]] && continue
    packages+=("$name")
done <<<"$PACKAGES_TABLE"

is_installed()
{
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    [[ "$status" == "install ok installed" ]]
}

missing=()
for p in "${packages[@]}"; do
    is_installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi

install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"

if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing ${#missing[@]} of ${#packages[@]} packages: ${missing[*]}" >&2
    echo "deps: run as root (or with sudo):" >&2
    echo "  apt-get update && $install_cmd" >&2
    exit 1
fi

echo "deps: installing ${#missing[@]} missing packages: ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

still_missing=()
for p in "${missing[@]}"; do
    is_installed "$p" || still_missing+=("$p")
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
    echo "deps: still missing after apt-get install: ${still_missing[*]}" >&2
    exit 1
fi
echo "deps: all ${#packages[@]} packages present"
