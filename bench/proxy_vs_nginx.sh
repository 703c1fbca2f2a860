#!/usr/bin/env bash
# bench/proxy_vs_nginx.sh — krtgate's in-process proxy against Debian's nginx as a reverse proxy,
# in one run, in front of the same backend (issue 5).
#
# Usage: bench/proxy_vs_nginx.sh [KRTGATE]
#   KRTGATE  the krtgate binary to measure (default: $KRTGATE, else build/release/krtgate). Use a
#            Release build without sanitizers; the script builds nothing.
# Environment (all optional):
#   PVN_DURATION=10s   wrk duration per run          PVN_CONNS=50     wrk connections (one thread)
#   PVN_H2_REQUESTS=100000  h2load requests per run  PVN_H2_CONNS=10  PVN_H2_STREAMS=10 (-m)
#   PVN_ROUNDS=3       rounds of the four runs; the table and the targets use the median round
#   PVN_WARMUP=2s      wrk warm-up against each proxy before measuring (not reported)
#   PVN_NGINX_KEEPALIVE=128 nginx's `keepalive` (idle upstream connections kept per worker); 128 is
#                      krtgate's default pool_max_idle_per_endpoint, so both pools keep as many
#   PVN_BACKEND_ADDR=127.0.10.1:8081 PVN_KRTGATE_ADDR=127.0.3.1:8080 PVN_NGINX_ADDR=127.0.3.2:8080
#   PVN_NGINX_H2_ADDR=127.0.3.2:8082  where each listens (loopback IP:PORT; the backend's default
#                      is the quickstart's echo-1: do not run the quickstart at the same time)
#   PVN_PIN=auto       where the processes run: `auto` (with 2 or more CPUs) gives the proxy under
#                      test CPU 0 and the backend and the load generator the other CPUs (taskset,
#                      the same for both proxies); `off` leaves placement to the scheduler
#   PVN_KRTGATE_ARGS=  extra options for `krtgate run`, e.g. "--busy-poll 50us" (split on spaces)
#   PVN_KEEP=1         keep the work folder (configs, logs, raw tool outputs) and print its path
#
# What runs, all on 127.0.0.0/8 and all stopped on exit (trap):
#   backend   nginx, 1 worker, answering every request with a fixed 200 body, at 127.0.10.1:8081
#             (where the generated manifests say the echo Pod is Ready); its stub_status counts
#             the connections each proxy opens to it (upstream_conns: pool reuse at a glance)
#   krtgate   `krtgate run --no-watch` over a generated manifest folder: Gateway with
#             spec.addresses 127.0.3.1 and an HTTP listener on 8080, HTTPRoute / → Service echo;
#             the in-process proxy serves HTTP/1.1 and h2c (prior knowledge) on 127.0.3.1:8080
#   nginx     reverse proxy with worker_processes 1 (krtgate runs on one thread), upstream
#             keep-alive pool, proxy_http_version 1.1: HTTP/1.1 on 127.0.3.2:8080 and h2c on
#             127.0.3.2:8082 (nginx 1.22 has no sniffing: a `listen ... http2` port speaks only
#             h2 with prior knowledge, so h2c needs its own port)
# Placement (PVN_PIN=auto): the proxy under test alone on CPU 0, backend and load generator on
# the rest, as when a proxy is measured from other machines. Left to the scheduler on a 2-CPU
# machine, three busy processes share two cores: each core idles 5-10% of the time, a round moves
# by ±10%, and which proxy sleeps more (and so is woken more) decides the result rather than
# the work each does per request (docs/bench.md, "Where HTTP/1.1's last percent goes").
# Then, PVN_ROUNDS times, for each protocol, the two proxies back to back (interleaved, so that
# a change in the machine's load hits both), krtgate first in odd rounds and nginx first in even
# ones (so neither always runs on the machine the other has just warmed):
#   http1.1   wrk -t1 -c$PVN_CONNS -d$PVN_DURATION --latency   (keep-alive)
#   h2c       h2load -n$PVN_H2_REQUESTS -c$PVN_H2_CONNS -m$PVN_H2_STREAMS, per-request log for
#             the percentiles (h2load prints none)
# Output: one machine line per (proxy, protocol),
#   proxy_vs_nginx proxy=krtgate proto=http1.1 tool=wrk round=1 conns=50 req_s=… p50_us=… p99_us=…
#       rss_kib=… cpu_us_req=… upstream_conns=… errors=…
# (rss_kib = VmHWM, the peak resident set so far, of the krtgate process — control plane
# included — or of the nginx worker; cpu_us_req = that process's user + system CPU time during
# the measured run over the requests completed), then per (proxy, protocol) a line with
# round=median (the median of each of req_s, p50_us, p99_us, cpu_us_req, upstream_conns over the
# rounds; rss_kib the peak, errors the sum), then a table of the medians and the issue's targets against them, then each
# round's krtgate/nginx ratios and in how many rounds each target was met.
# Exit: 0 measured, 1 a step failed, 2 usage, 77 skipped because a tool is missing (nothing is
# installed at run time).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
krtgate=${1:-${KRTGATE:-$root/build/release/krtgate}}
duration=${PVN_DURATION:-10s}
conns=${PVN_CONNS:-50}
h2_requests=${PVN_H2_REQUESTS:-100000}
h2_conns=${PVN_H2_CONNS:-10}
h2_streams=${PVN_H2_STREAMS:-10}
warmup=${PVN_WARMUP:-2s}
rounds=${PVN_ROUNDS:-3}
nginx_keepalive=${PVN_NGINX_KEEPALIVE:-128}
pin=${PVN_PIN:-auto}
read -r -a krt_args <<<"${PVN_KRTGATE_ARGS:-}"

backend_addr=${PVN_BACKEND_ADDR:-127.0.10.1:8081}
krt_addr=${PVN_KRTGATE_ADDR:-127.0.3.1:8080}
ngx_addr=${PVN_NGINX_ADDR:-127.0.3.2:8080}
ngx_h2_addr=${PVN_NGINX_H2_ADDR:-127.0.3.2:8082}

say() { echo "proxy_vs_nginx: $*" >&2; }

if [[ ! -x "$krtgate" ]]; then
    say "krtgate binary '$krtgate' not found or not executable (build a Release tree first, or pass its path)"
    exit 2
fi
missing=()
for tool in nginx:nginx-light wrk:wrk h2load:nghttp2-client curl:curl; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -ne 0 ]]; then
    for m in "${missing[@]}"; do
        say "skipped: '${m%%:*}' not found (Debian package ${m#*:}; scripts/install-deps.sh installs it)"
    done
    exit 77
fi

for addr in "$backend_addr" "$krt_addr" "$ngx_addr" "$ngx_h2_addr"; do
    if curl -s -o /dev/null --max-time 1 "http://$addr/" 2>/dev/null; then
        say "something already answers at $addr (the quickstart? another run?): stop it or set PVN_*_ADDR"
        exit 1
    fi
done

# pin_proxy / pin_tools: the command prefixes that place the proxies and the tools (empty: none).
pin_proxy=() pin_tools=()
ncpu=$(nproc)
case "$pin" in
auto)
    if (( ncpu >= 2 )) && command -v taskset >/dev/null 2>&1; then
        pin_proxy=(taskset -c 0) pin_tools=(taskset -c "$( (( ncpu == 2 )) && echo 1 || echo "1-$(( ncpu - 1 ))")")
    fi
    ;;
off) ;;
*) say "PVN_PIN is auto or off, not '$pin'"; exit 2 ;;
esac

work=$(mktemp -d /tmp/proxy_vs_nginx.XXXXXX)
chmod 755 "$work"    # nginx workers drop to an unprivileged user when started as root
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        # bounded: nginx and krtgate close gracefully well within a second
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ -n "${PVN_KEEP:-}" ]]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- nginx configurations ---------------------------------------------------------------------
# Both nginx instances: one worker, no access log, everything under their own prefix.
nginx_common() {
    cat <<EOF
worker_processes 1;
daemon off;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_http_common() {
    cat <<'EOF'
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
EOF
}

mkdir -p "$work/backend/tmp" "$work/nginx/tmp" "$work/manifests"
{
    nginx_common
    echo "http {"
    nginx_http_common
    cat <<EOF
    server {
        listen $backend_addr reuseport backlog=4096;
        location = /backend_status { stub_status; }
        location / {
            default_type text/plain;
            return 200 "hello from the benchmark backend\n";
        }
    }
}
EOF
} >"$work/backend/nginx.conf"

{
    nginx_common
    echo "http {"
    nginx_http_common
    cat <<EOF
    upstream echo {
        server $backend_addr;
        keepalive $nginx_keepalive;
        keepalive_requests 10000000;
        keepalive_timeout 60s;
    }
    server {
        listen $ngx_addr backlog=4096;
        listen $ngx_h2_addr http2 backlog=4096;
        location / {
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
        }
    }
}
EOF
} >"$work/nginx/nginx.conf"

# --- manifests for krtgate ----------------------------------------------------------------------
cat >"$work/manifests/bench.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: agentgateway
spec:
  controllerName: agentgateway.dev/agentgateway
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench
  namespace: default
spec:
  gatewayClassName: agentgateway
  addresses:
  - type: IPAddress
    value: ${krt_addr%:*}
  listeners:
  - name: http
    protocol: HTTP
    port: ${krt_addr#*:}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo
  namespace: default
spec:
  parentRefs:
  - name: bench
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: echo
      port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: default
spec:
  selector:
    app: echo
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
    targetPort: ${backend_addr#*:}
---
apiVersion: v1
kind: Pod
metadata:
  name: echo-1
  namespace: default
  labels:
    app: echo
spec:
  containers:
  - name: echo
    image: echo
    ports:
    - containerPort: ${backend_addr#*:}
status:
  phase: Running
  podIP: ${backend_addr%:*}
  conditions:
  - type: Ready
    status: "True"
EOF

# --- start everything ---------------------------------------------------------------------------
"${pin_tools[@]}" nginx -p "$work/backend/" -c nginx.conf >"$work/backend/stdout" 2>&1 &
pids+=($!)
"${pin_proxy[@]}" nginx -p "$work/nginx/" -c nginx.conf >"$work/nginx/stdout" 2>&1 &
pids+=($!)
nginx_pid=$!
"${pin_proxy[@]}" "$krtgate" run "${krt_args[@]}" --no-watch --xds-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 "$work/manifests" \
    >"$work/krtgate.log" 2>&1 &
pids+=($!)
krt_pid=$!

# wait_http NAME URL [CURL_OPTS...]: until URL answers 200 (bounded: 10 s).
wait_http() {
    local name=$1 url=$2
    shift 2
    for _ in $(seq 100); do
        if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "$url" 2>/dev/null) == 200 ]]; then
            return 0
        fi
        sleep 0.1
    done
    say "$name did not answer 200 at $url within 10 s"
    for f in "$work/backend/error.log" "$work/nginx/error.log" "$work/krtgate.log"; do
        [[ -s "$f" ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}
wait_http backend "http://$backend_addr/"
wait_http nginx "http://$ngx_addr/"
wait_http "nginx (h2c)" "http://$ngx_h2_addr/" --http2-prior-knowledge
wait_http krtgate "http://$krt_addr/"
wait_http "krtgate (h2c)" "http://$krt_addr/" --http2-prior-knowledge

# The nginx worker (the master only forks and supervises).
nginx_worker=
for _ in $(seq 50); do
    nginx_worker=$(pgrep -P "$nginx_pid" | head -1 || true)
    [[ -n "$nginx_worker" ]] && break
    sleep 0.1
done
[[ -n "$nginx_worker" ]] || { say "no nginx worker process under $nginx_pid"; exit 1; }

# accepts: connections the backend has accepted so far.
accepts() { curl -s --max-time 2 "http://$backend_addr/backend_status" | awk 'NR == 3 { print $1 }'; }

hwm_kib() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID: user + system time of the process so far, in clock ticks (its command name has
# no spaces, so the fields of /proc/PID/stat split plainly).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)
# cpu_us_per_req TICKS REQUESTS: the proxy's CPU time per completed request, in µs.
cpu_us_per_req() { awk -v t="$1" -v n="$2" -v hz="$clk_tck" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }'; }

# to_us VALUE: wrk's "1.23ms" / "456.78us" / "1.20s" → microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000;
        else if (u == "m") f = 60000000; else f = -1;
        if (f < 0) print "?"; else printf "%.0f", n * f }'
}

results=()
# run_wrk PROXY ADDR PID
run_wrk() {
    local proxy=$1 addr=$2 pid=$3 out="$work/wrk-$1.txt"
    "${pin_tools[@]}" wrk -t1 -c"$conns" -d"$warmup" "http://$addr/" >/dev/null
    local a0
    a0=$(accepts)
    local c0
    c0=$(cpu_ticks "$pid")
    "${pin_tools[@]}" wrk -t1 -c"$conns" -d"$duration" --latency "http://$addr/" >"$out"
    local cpu=$(( $(cpu_ticks "$pid") - c0 ))
    local up=$(( $(accepts) - a0 - 1 ))    # minus the status query's own connection
    local rps p50 p99 errors
    rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2; exit }' "$out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2; exit }' "$out")")
    # non-2xx/3xx answers plus socket errors (connect, read, write, timeout)
    errors=$(awk '/Non-2xx or 3xx responses:/ { e += $NF }
                  /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) e += $i }
                  END { print e + 0 }' "$out")
    local cpu_req
    cpu_req=$(cpu_us_per_req "$cpu" "$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$out")")
    results+=("proxy_vs_nginx proxy=$proxy proto=http1.1 tool=wrk round=$round conns=$conns req_s=$rps p50_us=$p50 p99_us=$p99 rss_kib=$(hwm_kib "$pid") cpu_us_req=$cpu_req upstream_conns=$up errors=$errors")
    echo "${results[-1]}"
}

# run_h2load PROXY ADDR PID
run_h2load() {
    local proxy=$1 addr=$2 pid=$3 out="$work/h2load-$1.txt" log="$work/h2load-$1.log"
    "${pin_tools[@]}" h2load -n"$(( h2_requests / 10 ))" -c"$h2_conns" -m"$h2_streams" "http://$addr/" >/dev/null 2>&1 || true
    # --log-file: per request, its start (µs since epoch), status, µs until the end of the response
    # (h2load prints no percentiles); the same for both proxies, so its cost is too
    local a0
    a0=$(accepts)
    local c0
    c0=$(cpu_ticks "$pid")
    "${pin_tools[@]}" h2load -n"$h2_requests" -c"$h2_conns" -m"$h2_streams" --log-file="$log" "http://$addr/" \
        >"$out" 2>&1 || { say "h2load against $proxy failed:"; tail -20 "$out" >&2; exit 1; }
    local cpu=$(( $(cpu_ticks "$pid") - c0 ))
    local up=$(( $(accepts) - a0 - 1 ))
    local rps p50 p99 errors
    rps=$(awk '$1 == "finished" { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) { sub(/,$/, "", $i); print $i; exit } }' "$out")
    read -r p50 p99 < <(cut -f3 "$log" | sort -n | awk '{ v[NR] = $1 }
        END { if (NR == 0) { print "? ?"; exit }
              i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1;
              print v[i50], v[i99] }')
    errors=$(awk '$1 == "requests:" { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^(failed|errored|timeout)/) e += $i }
                  END { print e + 0 }' "$out")
    local cpu_req
    cpu_req=$(cpu_us_per_req "$cpu" "$(awk '$1 == "requests:" { print $8; exit }' "$out")")
    results+=("proxy_vs_nginx proxy=$proxy proto=h2c tool=h2load round=$round conns=$h2_conns streams=$h2_streams req_s=$rps p50_us=$p50 p99_us=$p99 rss_kib=$(hwm_kib "$pid") cpu_us_req=$cpu_req upstream_conns=$up errors=$errors")
    echo "${results[-1]}"
}

say "nginx upstream keepalive $nginx_keepalive; $duration wrk runs with $conns connections, h2load $h2_requests requests"
say "krtgate $("$krtgate" version 2>/dev/null | head -1)${krt_args[*]:+ (${krt_args[*]})}, $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version 2>&1 | head -1); load at start: $(cut -d' ' -f1-3 /proc/loadavg); $ncpu cores, placement: ${pin_proxy[*]:-scheduler} (proxies) / ${pin_tools[*]:-scheduler} (backend, wrk, h2load)"
for round in $(seq "$rounds"); do
    # Odd rounds krtgate first, even rounds nginx first (ABBA): whichever proxy goes second
    # runs on a machine the first run has just warmed (caches, CPU frequency, the backend), and
    # a load that rises or falls during a round hits both orders equally.
    if (( round % 2 )); then
        run_wrk krtgate "$krt_addr" "$krt_pid"
        run_wrk nginx "$ngx_addr" "$nginx_worker"
        run_h2load krtgate "$krt_addr" "$krt_pid"
        run_h2load nginx "$ngx_h2_addr" "$nginx_worker"
    else
        run_wrk nginx "$ngx_addr" "$nginx_worker"
        run_wrk krtgate "$krt_addr" "$krt_pid"
        run_h2load nginx "$ngx_h2_addr" "$nginx_worker"
        run_h2load krtgate "$krt_addr" "$krt_pid"
    fi
done

# field LINE KEY: the value of KEY=… in LINE.
field() { awk -v k="$2" '{ for (i = 2; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$1"; }
# median VALUE...: the middle one (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
medians=()
for key in krtgate:http1.1 nginx:http1.1 krtgate:h2c nginx:h2c; do
    rs=() p50s=() p99s=() cpus=() ups=() rss=0 errs=0 first=
    for line in "${results[@]}"; do
        [[ $(field "$line" proxy):$(field "$line" proto) == "$key" ]] || continue
        [[ -n "$first" ]] || first=$line
        rs+=("$(field "$line" req_s)") p50s+=("$(field "$line" p50_us)") p99s+=("$(field "$line" p99_us)")
        cpus+=("$(field "$line" cpu_us_req)") ups+=("$(field "$line" upstream_conns)")
        (( $(field "$line" rss_kib) > rss )) && rss=$(field "$line" rss_kib)
        errs=$(( errs + $(field "$line" errors) ))
    done
    [[ -n "$first" ]] || continue
    m=$(awk '{ for (i = 1; i <= 6; i++) printf "%s ", $i }' <<<"$first")
    m=${m/round=1 /round=median }
    [[ $(field "$first" tool) == h2load ]] && m+="streams=$h2_streams "
    m+="req_s=$(median "${rs[@]}") p50_us=$(median "${p50s[@]}") p99_us=$(median "${p99s[@]}")"
    m+=" rss_kib=$rss cpu_us_req=$(median "${cpus[@]}") upstream_conns=$(median "${ups[@]}") errors=$errs"
    medians+=("$m")
    echo "$m"
done

echo
echo "median of $rounds round(s):"
printf '%-8s %-8s %10s %8s %8s %8s %10s %9s %6s\n' proxy proto 'req/s' 'p50 µs' 'p99 µs' 'RSS KiB' 'CPU µs/req' 'upstream' errors
for line in "${medians[@]}"; do
    awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
           printf "%-8s %-8s %10s %8s %8s %8s %10s %9s %6s\n", f["proxy"], f["proto"], f["req_s"], f["p50_us"], f["p99_us"], f["rss_kib"], f["cpu_us_req"], f["upstream_conns"], f["errors"] }' <<<"$line"
done

# The issue's target, per protocol: krtgate req/s >= nginx's and krtgate p99 <= nginx's.
echo
printf '%s\n' "${medians[@]}" | awk '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      rps[f["proxy"], f["proto"]] = f["req_s"]; p99[f["proxy"], f["proto"]] = f["p99_us"]; seen[f["proto"]] = 1 }
    END { n = split("http1.1 h2c", protos, " ")
          for (k = 1; k <= n; k++) { p = protos[k]; if (!(p in seen)) continue
              printf "target %-8s req/s %s (krtgate/nginx %.2f), p99 %s (krtgate/nginx %.2f)\n", p,
                  ((rps["krtgate", p] + 0 >= rps["nginx", p] + 0) ? "met" : "NOT met"), rps["krtgate", p] / rps["nginx", p],
                  ((p99["krtgate", p] + 0 <= p99["nginx", p] + 0) ? "met" : "NOT met"), p99["krtgate", p] / p99["nginx", p] } }'

# Per round, the two proxies' figures side by side (each round's pair ran back to back, so its
# ratio is the least disturbed by the machine's other load), and how many rounds each target
# was met in.
echo
printf '%s\n' "${results[@]}" | awk '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      k = f["round"] SUBSEP f["proto"]; rps[k, f["proxy"]] = f["req_s"]; p99[k, f["proxy"]] = f["p99_us"]
      if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
    END { for (j = 1; j <= n; j++) { k = order[j]; split(k, rp, SUBSEP)
              if (rps[k, "nginx"] == "" || rps[k, "krtgate"] == "") continue
              rr = rps[k, "krtgate"] / rps[k, "nginx"]; pr = p99[k, "krtgate"] / p99[k, "nginx"]
              printf "round %s %-8s krtgate/nginx req/s %.2f, p99 %.2f\n", rp[1], rp[2], rr, pr
              total[rp[2]]++; if (rr >= 1) won[rp[2]]++; if (pr <= 1) low[rp[2]]++ }
          m = split("http1.1 h2c", protos, " ")
          for (i = 1; i <= m; i++) { p = protos[i]; if (!total[p]) continue
              printf "rounds %-8s krtgate req/s >= nginx in %d of %d, p99 <= nginx in %d of %d\n", p,
                  won[p], total[p], low[p], total[p] } }'
