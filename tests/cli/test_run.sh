#!/bin/sh
# `krtgate run` end to end: the quickstart folder served as delta xDS to an independent client
# (python3-grpcio) acting as the Gateway's proxy; traffic through the in-process proxy to the
# quickstart's echo backends (where its Pods say they are); an edit to the
# folder reaches the remote client as a delta of just the changed route and re-routes traffic;
# the admin endpoint answers /healthz, /readyz and /debug/*; SIGTERM stops it cleanly. It runs
# with --busy-poll on (and checks that an out-of-range window is a usage error).
# Usage: test_run.sh KRTGATE SRC_DIR GEN_PYTHON_DIR
set -eu
bin=$1
src=$2
gen=$3
tmp=$(mktemp -d)
pid=
cpid=
e1=
e2=
cleanup() {
    [ -n "$e1" ] && kill "$e1" 2>/dev/null || true
    [ -n "$e2" ] && kill "$e2" 2>/dev/null || true
    [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    echo "--- krtgate stderr:" >&2
    cat "$tmp/run.err" >&2 2>/dev/null || true
    exit 1
}
wait_for() { # FILE PATTERN
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "timed out waiting for '$2' in $1: $(cat "$1" 2>/dev/null)"
        sleep 0.1
    done
}

# The quickstart on addresses of its own (127.0.77.0/24), so a `make quickstart` running on the
# same machine does not collide with it: the Pods move, the Gateway names its address.
mkdir "$tmp/live"
cp "$src/examples/quickstart/"*.yaml "$tmp/live/"
sed -i 's/127\.0\.10\./127.0.77./' "$tmp/live/backend.yaml"
sed -i 's/^  gatewayClassName: agentgateway$/  gatewayClassName: agentgateway\n  addresses:\n  - type: IPAddress\n    value: 127.0.77.10/' \
    "$tmp/live/gateway.yaml"
grep -q 127.0.77.10 "$tmp/live/gateway.yaml" || fail "could not give the Gateway its address"
/usr/bin/python3 "$src/examples/quickstart/echo.py" 127.0.77.1 8081 echo-1 &
e1=$!
/usr/bin/python3 "$src/examples/quickstart/echo.py" 127.0.77.2 8081 echo-2 &
e2=$!
# A busy-poll window longer than 100 ms is refused as a usage error, naming the option.
rc=0
"$bin" run --busy-poll 200ms "$tmp/live" 2>"$tmp/usage.err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--busy-poll wants a duration up to 100ms" "$tmp/usage.err" ||
    fail "--busy-poll 200ms: exit $rc, $(cat "$tmp/usage.err")"

# Busy polling on (50 µs): everything below runs through a loop that spins after input, and the
# SIGTERM at the end must still stop it.
"$bin" run --busy-poll 50us --xds-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "$tmp/live" \
    2>"$tmp/run.err" &
pid=$!
wait_for "$tmp/run.err" "initial load"
xds=$(sed -n 's/.*serving xDS on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/run.err")
admin=$(sed -n 's#.*admin on http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$tmp/run.err")
[ -n "$xds" ] && [ -n "$admin" ] || fail "no ports in the startup line"

# Admin endpoint.
[ "$(curl -sf "http://127.0.0.1:$admin/healthz")" = ok ] || fail "/healthz"
[ "$(curl -sf "http://127.0.0.1:$admin/readyz")" = ready ] || fail "/readyz"
curl -sf "http://127.0.0.1:$admin/debug/krt" | grep -q '"collections"' || fail "/debug/krt"
curl -sf "http://127.0.0.1:$admin/debug/krt.dot" | grep -q '^digraph' || fail "/debug/krt.dot"
curl -sf "http://127.0.0.1:$admin/debug/resources" | grep -q 'route/default/echo.00.http' ||
    fail "/debug/resources"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/nope")
[ "$code" = 404 ] || fail "unknown admin path answered $code"

# Traffic through the in-process proxy of the quickstart Gateway, to both echo Pods.
wait_for "$tmp/run.err" "gateway default/quickstart: proxy serving on 127.0.77.10"
get() { curl -s --max-time 5 -H "Host: example.local" "http://127.0.77.10:8080$1"; }
code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "Host: example.local" "http://127.0.77.10:8080$1"; }
i=0
until get /echo/a | grep -q '"pod"'; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no answer through the proxy: $(get /echo/a)"
    sleep 0.1
done
pods=$( (get /echo/1; get /echo/2; get /echo/3; get /echo/4) | grep -o '"pod": "echo-[12]"' | sort -u | wc -l)
[ "$pods" -eq 2 ] || fail "requests did not reach both echo pods"
get /echo/x | grep -q '"path": "/echo/x"' || fail "the echo did not see the request path"
[ "$(code /other)" = 404 ] || fail "an unrouted path answered $(code /other)"

# A proxy of the quickstart Gateway receives its resources and the Addresses.
/usr/bin/python3 "$src/tests/cli/run_xds_client.py" "$gen" "$xds" 15 >"$tmp/client.out" 2>&1 &
cpid=$!
wait_for "$tmp/client.out" "route/default/echo.00.http\|^skip:"
if grep -q "^skip:" "$tmp/client.out"; then
    echo "cli/run: skipped ($(cat "$tmp/client.out"))"
    exit 77
fi
wait_for "$tmp/client.out" "+ bind/8080/default/quickstart"
wait_for "$tmp/client.out" "+ listener/default/quickstart.http"
wait_for "$tmp/client.out" "+ default/echo.default.svc.cluster.local"
curl -sf "http://127.0.0.1:$admin/debug/xds" | grep -q '"role": "default~quickstart"' ||
    fail "/debug/xds does not show the proxy's connection"
before=$(wc -l <"$tmp/client.out")

# An edit reaches the proxy as a delta of the changed route only.
sed 's#value: /echo#value: /echo2#' "$tmp/live/route.yaml" >"$tmp/route.new"
mv "$tmp/route.new" "$tmp/live/route.yaml"
wait_for "$tmp/run.err" "update:"
i=0
while [ "$(wc -l <"$tmp/client.out")" -le "$before" ]; do
    i=$((i + 1))
    [ "$i" -le 200 ] || fail "the edit never reached the proxy: $(cat "$tmp/client.out")"
    sleep 0.1
done
sleep 0.5
delta=$(tail -n +"$((before + 1))" "$tmp/client.out")
[ "$(echo "$delta" | grep -c '^+ ')" -eq 1 ] || fail "delta is not one resource: $delta"
echo "$delta" | grep -q '^+ route/default/echo.00.http' || fail "delta is not the route: $delta"
# ... and the in-process proxy routes by the new path.
[ "$(code /echo2/x)" = 200 ] || fail "/echo2 answered $(code /echo2/x) after the edit"
[ "$(code /echo/x)" = 404 ] || fail "/echo answered $(code /echo/x) after the edit"

# A Gateway without spec.addresses gets a loopback address of krtgate's, shown in its status (the
# load balancer krtgate plays: a Service of the Gateway's name), and loses both with its proxy.
cat >"$tmp/second.yaml" <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: second
  namespace: default
spec:
  gatewayClassName: agentgateway
  listeners:
  - name: http
    protocol: HTTP
    port: 8080
YAML
mv "$tmp/second.yaml" "$tmp/live/second.yaml"
wait_for "$tmp/run.err" "gateway default/second: proxy serving on 127.0.1."
i=0
until curl -sf "http://127.0.0.1:$admin/debug/resources" |
    grep '"key":"default/second"' | grep '"object":"Gateway"' | grep -q '"value":"127.0.1.'; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "the second Gateway's status has no address"
    sleep 0.1
done
rm "$tmp/live/second.yaml"
wait_for "$tmp/run.err" "gateway default/second: proxy on 127.0.1.[0-9]* stopped"

kill -TERM "$pid"
wait "$pid" || fail "krtgate run exited with $? on SIGTERM"
pid=
echo "cli/run: all checks passed"
