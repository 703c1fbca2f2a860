#!/bin/sh
# `krtgate proxy` end to end, with real clients:
#  --xds: `krtgate run --no-proxy` with a token file serves the quickstart over xDS; a separate
#  `krtgate proxy --xds ... --token-file` process routes curl to python echo backends; /readyz,
#  /config_dump and /metrics (checked by a small exposition parser) answer; a proxy with a bad
#  token is refused with a clear log line; the control plane killed and restarted on the same
#  port is reconnected to, and an edit made meanwhile reaches the proxy.
#  --config: a local config file (agentgateway's format) serves traffic, an edit reloads it, a
#  broken edit is rejected with FILE:LINE and the last good config keeps serving; CORS preflights
#  are answered by the proxy and actual requests get Access-Control-Allow-Origin.
# Usage: test_proxy.sh KRTGATE SRC_DIR
set -eu
bin=$1
src=$2
tmp=$(mktemp -d)
cp_pid=
px_pid=
bad_pid=
lc_pid=
e1=
e2=
cleanup() {
    for p in $e1 $e2 $cp_pid $px_pid $bad_pid $lc_pid; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in cp.err cp2.err cp3.err px.err px3.err bad.err lc.err; do
        [ -f "$tmp/$f" ] && { echo "--- $f:" >&2; cat "$tmp/$f" >&2; }
    done
    exit 1
}
wait_for() { # FILE PATTERN
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 300 ] || fail "timed out waiting for '$2' in $1"
        sleep 0.1
    done
}
# The Prometheus text exposition is well formed: HELP and TYPE once per family, before its
# samples; every sample belongs to a declared family; values parse; histogram buckets grow and
# end at +Inf = _count.
check_metrics() { # FILE
    /usr/bin/python3 - "$1" <<'EOF'
import re, sys
types, helps, seen_samples = {}, set(), set()
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
buckets = {}
counts = {}
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip('\n')
    if line.startswith('# HELP '):
        name = line.split(' ')[2]
        assert name not in helps, f"line {n}: second HELP for {name}"
        helps.add(name)
        continue
    if line.startswith('# TYPE '):
        _, _, name, typ = line.split(' ')
        assert name not in types, f"line {n}: second TYPE for {name}"
        assert name not in seen_samples, f"line {n}: TYPE after samples of {name}"
        assert typ in ('counter', 'gauge', 'histogram', 'summary', 'untyped'), line
        types[name] = typ
        continue
    assert not line.startswith('#') and line, f"line {n}: unexpected {line!r}"
    m = sample.match(line)
    assert m, f"line {n}: not a sample: {line!r}"
    name, labels, value = m.group(1), m.group(3) or '', m.group(4)
    float(value)
    pos, lab = 0, {}
    while pos < len(labels):
        lm = label.match(labels, pos)
        assert lm, f"line {n}: bad labels {labels!r}"
        lab[lm.group(1)] = lm.group(2)
        pos = lm.end()
    fam = name
    for suf in ('_bucket', '_sum', '_count'):
        if name.endswith(suf) and types.get(name[:-len(suf)]) == 'histogram':
            fam = name[:-len(suf)]
    assert fam in types, f"line {n}: sample of undeclared family {fam}"
    assert fam in helps, f"line {n}: family {fam} has no HELP"
    seen_samples.add(fam)
    key = tuple(sorted((k, v) for k, v in lab.items() if k != 'le'))
    if name.endswith('_bucket'):
        prev = buckets.get((fam, key), (-1, -1))
        le = float('inf') if lab['le'] == '+Inf' else float(lab['le'])
        assert le > prev[0] and float(value) >= prev[1], f"line {n}: buckets not increasing"
        buckets[(fam, key)] = (le, float(value))
    if name.endswith('_count') and fam != name:
        counts[(fam, key)] = float(value)
for k, (le, v) in buckets.items():
    assert le == float('inf') and counts.get(k) == v, f"{k}: +Inf bucket != _count"
print("metrics ok:", len(types), "families")
EOF
}

# The quickstart on addresses of its own (127.0.78.0/24).
mkdir "$tmp/live"
cp "$src/examples/quickstart/"*.yaml "$tmp/live/"
sed -i 's/127\.0\.10\./127.0.78./' "$tmp/live/backend.yaml"
/usr/bin/python3 "$src/examples/quickstart/echo.py" 127.0.78.1 8081 echo-1 &
e1=$!
/usr/bin/python3 "$src/examples/quickstart/echo.py" 127.0.78.2 8081 echo-2 &
e2=$!
printf 'good-token default~quickstart\n' >"$tmp/tokens"
printf 'good-token\n' >"$tmp/good.tok"
printf 'wrong-token\n' >"$tmp/bad.tok"

"$bin" run --no-proxy --xds-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --xds-token-file "$tmp/tokens" "$tmp/live" 2>"$tmp/cp.err" &
cp_pid=$!
wait_for "$tmp/cp.err" "initial load"
xds=$(sed -n 's/.*serving xDS on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/cp.err")
[ -n "$xds" ] || fail "no xDS port in the control plane's startup line"

"$bin" proxy --xds "127.0.0.1:$xds" --gateway default/quickstart --token-file "$tmp/good.tok" \
    --listen-host 127.0.78.10 --admin-listen 127.0.0.1:0 2>"$tmp/px.err" &
px_pid=$!
wait_for "$tmp/px.err" "admin on http://"
admin=$(sed -n 's#.*admin on http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$tmp/px.err")
[ -n "$admin" ] || fail "no admin port in the proxy's startup line"
wait_for "$tmp/px.err" "xDS stream to 127.0.0.1:$xds open"
i=0
until [ "$(curl -s "http://127.0.0.1:$admin/readyz")" = ok ]; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "/readyz never became ready"
    sleep 0.1
done
[ "$(curl -sf "http://127.0.0.1:$admin/healthz")" = ok ] || fail "/healthz"

get() { curl -s --max-time 5 -H "Host: example.local" "http://127.0.78.10:8080$1"; }
code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "Host: example.local" "http://127.0.78.10:8080$1"; }
i=0
until get /echo/a | grep -q '"pod"'; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no answer through the proxy: $(get /echo/a)"
    sleep 0.1
done
pods=$( (get /echo/1; get /echo/2; get /echo/3; get /echo/4) | grep -o '"pod": "echo-[12]"' | sort -u | wc -l)
[ "$pods" -eq 2 ] || fail "requests did not reach both echo pods"
[ "$(code /other)" = 404 ] || fail "an unrouted path answered $(code /other)"
curl -sf "http://127.0.0.1:$admin/config_dump" | grep -q '"route/default/echo.00.http"' ||
    curl -sf "http://127.0.0.1:$admin/config_dump" | grep -q 'default/echo.00.http' ||
    fail "/config_dump does not hold the route"

curl -sf "http://127.0.0.1:$admin/metrics" >"$tmp/metrics" || fail "/metrics"
check_metrics "$tmp/metrics" || fail "malformed exposition: $(cat "$tmp/metrics")"
grep -q '^krtgate_proxy_http_requests_total{gateway="default/quickstart",route="default/echo.00.http",code="200"} [1-9]' "$tmp/metrics" ||
    fail "no per-route count: $(grep http_requests "$tmp/metrics")"
grep -q '^krtgate_proxy_http_requests_total{gateway="default/quickstart",route="",code="404"} 1$' "$tmp/metrics" ||
    fail "no 404 count"
grep -q '^krtgate_proxy_upstream_latency_seconds_count{gateway="default/quickstart",route="default/echo.00.http"} [1-9]' "$tmp/metrics" ||
    fail "no upstream latency histogram"
grep -q '^krtgate_xds_client_connected 1$' "$tmp/metrics" || fail "xDS not shown connected"
grep -q '^krtgate_proxy_config_accepted_total{gateway="default/quickstart"} [1-9]' "$tmp/metrics" ||
    fail "no config applies"

# A wrong token is refused, and the proxy says so.
"$bin" proxy --xds "127.0.0.1:$xds" --gateway default/quickstart --token-file "$tmp/bad.tok" \
    --listen-host 127.0.78.11 --admin-listen 127.0.0.1:0 2>"$tmp/bad.err" &
bad_pid=$!
wait_for "$tmp/bad.err" "refused us: UNAUTHENTICATED"
grep -q "check --token-file" "$tmp/bad.err" || fail "the refusal does not point at the token"
grep -q "applied" "$tmp/bad.err" && fail "a refused proxy says it applied a config"
kill "$bad_pid"
wait "$bad_pid" || true
bad_pid=

# The control plane goes away: the proxy keeps serving its last config and reconnects when the
# control plane is back; an edit made meanwhile reaches it.
kill -TERM "$cp_pid"
wait "$cp_pid" || true
cp_pid=
wait_for "$tmp/px.err" "xDS connection to 127.0.0.1:$xds lost"
[ "$(code /echo/still)" = 200 ] || fail "the last config did not keep serving"
curl -sf "http://127.0.0.1:$admin/metrics" | grep -q '^krtgate_xds_client_connected 0$' ||
    fail "xDS still shown connected"
sed 's#value: /echo#value: /echo2#' "$tmp/live/route.yaml" >"$tmp/route.new"
mv "$tmp/route.new" "$tmp/live/route.yaml"
# This time with its in-process proxy too, on an address of its own, for krtgate run's /metrics.
sed -i 's/^  gatewayClassName: agentgateway$/  gatewayClassName: agentgateway\n  addresses:\n  - type: IPAddress\n    value: 127.0.78.20/' \
    "$tmp/live/gateway.yaml"
"$bin" run --xds-listen "127.0.0.1:$xds" --admin-listen 127.0.0.1:0 \
    --xds-token-file "$tmp/tokens" "$tmp/live" 2>"$tmp/cp2.err" &
cp_pid=$!
wait_for "$tmp/cp2.err" "initial load"
i=0
until [ "$(code /echo2/x)" = 200 ]; do
    i=$((i + 1))
    [ "$i" -le 300 ] || fail "the proxy did not pick up the restarted control plane's config"
    sleep 0.1
done
[ "$(grep -c "xDS stream to 127.0.0.1:$xds open" "$tmp/px.err")" -ge 2 ] || fail "no second stream"
[ "$(grep -c "config from 127.0.0.1:$xds applied" "$tmp/px.err")" -ge 2 ] || fail "no config after reconnecting"
[ "$(code /echo/x)" = 404 ] || fail "/echo answered $(code /echo/x) after the edit"

# krtgate run's admin /metrics covers its in-process proxies, labelled by gateway.
wait_for "$tmp/cp2.err" "proxy serving on 127.0.78.20"
cp_admin=$(sed -n 's#.*admin on http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$tmp/cp2.err")
i=0
until curl -s --max-time 5 -H "Host: example.local" http://127.0.78.20:8080/echo2/in | grep -q '"pod"'; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no answer through krtgate run's in-process proxy"
    sleep 0.1
done
curl -sf "http://127.0.0.1:$cp_admin/metrics" >"$tmp/run-metrics" || fail "krtgate run /metrics"
check_metrics "$tmp/run-metrics" || fail "malformed exposition from krtgate run"
grep -q '^krtgate_proxy_http_requests_total{gateway="default/quickstart",route="default/echo.00.http",code="200"} [1-9]' \
    "$tmp/run-metrics" || fail "krtgate run /metrics has no per-route count: $(cat "$tmp/run-metrics")"

kill -TERM "$px_pid"
wait "$px_pid" || fail "krtgate proxy exited with $? on SIGTERM"
px_pid=
kill -TERM "$cp_pid"
wait "$cp_pid" || true
cp_pid=

# xDS over TLS: the control plane with a self-signed certificate for 127.0.0.1, the proxy
# verifying it with --xds-ca.
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=krtgate-test -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$tmp/xds.key" -out "$tmp/xds.crt" >/dev/null 2>&1; then
    "$bin" run --no-proxy --xds-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --xds-tls-cert "$tmp/xds.crt" --xds-tls-key "$tmp/xds.key" "$tmp/live" 2>"$tmp/cp3.err" &
    cp_pid=$!
    wait_for "$tmp/cp3.err" "initial load"
    xds=$(sed -n 's/.*serving xDS on 127.0.0.1:\([0-9]*\),.*/\1/p' "$tmp/cp3.err")
    "$bin" proxy --xds "127.0.0.1:$xds" --gateway default/quickstart --xds-ca "$tmp/xds.crt" \
        --listen-host 127.0.78.13 --admin-listen 127.0.0.1:0 2>"$tmp/px3.err" &
    px_pid=$!
    i=0
    until curl -s --max-time 5 -H "Host: example.local" http://127.0.78.13:8080/echo2/tls | grep -q '"pod"'; do
        i=$((i + 1))
        [ "$i" -le 100 ] || fail "no answer through the proxy fed over TLS"
        sleep 0.1
    done
    kill -TERM "$px_pid"
    wait "$px_pid" || fail "krtgate proxy (TLS) exited with $? on SIGTERM"
    px_pid=
    kill -TERM "$cp_pid"
    wait "$cp_pid" || true
    cp_pid=
fi

# --config: the same backends from a local config file.
cat >"$tmp/local.yaml" <<'EOF'
# agentgateway local config (binds form)
binds:
- port: 8080
  listeners:
  - name: http
    hostname: example.local
    routes:
    - name: echo
      matches:
      - path: {pathPrefix: /echo}
      policies:
        responseHeaderModifier:
          set: {x-served-by: krtgate-local}
        cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET, PUT], maxAge: 60}
      backends:
      - host: 127.0.78.1:8081
EOF
# (with busy polling on: the requests below and the stop at the end go through a spinning loop)
"$bin" proxy --config "$tmp/local.yaml" --listen-host 127.0.78.12 --admin-listen 127.0.0.1:0 \
    --busy-poll 1ms 2>"$tmp/lc.err" &
lc_pid=$!
wait_for "$tmp/lc.err" "config loaded"
lget() { curl -s --max-time 5 -D - -H "Host: example.local" "http://127.0.78.12:8080$1"; }
lcode() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "Host: example.local" "http://127.0.78.12:8080$1"; }
i=0
until lget /echo/a | grep -q '"pod": "echo-1"'; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no answer through the --config proxy: $(lget /echo/a)"
    sleep 0.1
done
lget /echo/a | grep -qi '^x-served-by: krtgate-local' || fail "response modifier not applied"
# CORS: a preflight is answered by the proxy (allowed origin: Access-Control-* fields; other
# origins: none), an actual request gets Access-Control-Allow-Origin on the backend's answer.
pre() { curl -s --max-time 5 -D - -o /dev/null -X OPTIONS -H "Host: example.local" -H "Origin: $1" \
    -H 'Access-Control-Request-Method: PUT' "http://127.0.78.12:8080/echo/pre"; }
pre https://app.example.com >"$tmp/pre.txt"
grep -q '^HTTP/1.1 200' "$tmp/pre.txt" || fail "preflight status: $(cat "$tmp/pre.txt")"
grep -qi '^access-control-allow-origin: https://app.example.com' "$tmp/pre.txt" || fail "preflight origin"
grep -qi '^access-control-allow-methods: GET, PUT' "$tmp/pre.txt" || fail "preflight methods"
grep -qi '^access-control-max-age: 60' "$tmp/pre.txt" || fail "preflight max age"
grep -qi '^x-served-by' "$tmp/pre.txt" && fail "the preflight reached the backend"
pre https://evil.example.com | grep -qi '^access-control-' && fail "a foreign origin got CORS fields"
curl -s --max-time 5 -D "$tmp/act.txt" -H "Host: example.local" -H "Origin: https://app.example.com" \
    "http://127.0.78.12:8080/echo/actual" | grep -q '"path": "/echo/actual"' || fail "actual CORS request"
grep -qi '^access-control-allow-origin: https://app.example.com' "$tmp/act.txt" ||
    fail "no Access-Control-Allow-Origin on the actual response: $(cat "$tmp/act.txt")"
# An edit is picked up (rename over the file, as editors do).
sed 's#pathPrefix: /echo#pathPrefix: /v2#' "$tmp/local.yaml" >"$tmp/local.new"
mv "$tmp/local.new" "$tmp/local.yaml"
wait_for "$tmp/lc.err" "config reloaded"
[ "$(lcode /v2/x)" = 200 ] || fail "/v2 answered $(lcode /v2/x) after the reload"
[ "$(lcode /echo/x)" = 404 ] || fail "/echo answered $(lcode /echo/x) after the reload"
# A broken edit names the file, line and field, and the last good config keeps serving.
sed 's#pathPrefix: /v2#pathPrefx: /v3#' "$tmp/local.yaml" >"$tmp/local.new"
mv "$tmp/local.new" "$tmp/local.yaml"
wait_for "$tmp/lc.err" "local.yaml:10:.*pathPrefx"
grep -q "last good config keeps serving" "$tmp/lc.err" || fail "no word on the last good config"
[ "$(lcode /v2/x)" = 200 ] || fail "the last good config stopped serving"
kill -TERM "$lc_pid"
wait "$lc_pid" || fail "krtgate proxy --config exited with $? on SIGTERM"
lc_pid=
echo "cli/proxy: all checks passed"
