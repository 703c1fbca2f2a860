#!/usr/bin/env bash
# The quickstart on a laptop (`make run`): the two echo backends where the quickstart's Pods say they are, and
# `krtgate run` over this folder (xDS on 127.0.0.1:9978, admin on 127.0.0.1:15000, the Gateway's
# proxy on 127.0.1.1:8080). Ctrl-C stops everything. Usage: run.sh [KRTGATE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../build/release/krtgate}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
/usr/bin/python3 "$here/echo.py" 127.0.10.1 8081 echo-1 & pids+=($!)
/usr/bin/python3 "$here/echo.py" 127.0.10.2 8081 echo-2 & pids+=($!)
cat <<'MSG'
krtgate quickstart: try, in another terminal,
  curl -H 'Host: example.local' http://127.0.1.1:8080/echo/hello     # through the proxy to an echo pod
  curl -i -H 'Host: example.local' http://127.0.1.1:8080/nothing     # no route: 404
  curl http://127.0.0.1:15000/metrics                                # requests by route and status
  curl http://127.0.0.1:15000/debug/xds                              # the xDS server's view
  curl http://127.0.0.1:15000/debug/resources                        # what the manifests became
and edit examples/quickstart/*.yaml: changes apply live. Ctrl-C to stop.
MSG
"$bin" run "$here"
