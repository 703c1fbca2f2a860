#!/bin/sh
# bench/scale/plot.sh OUT.svg FILE... — the plot of `krtgate bench`: cost of one change against
# cluster size, incremental (change→flush p50 of each change scenario) and full recompute, both
# log scales. Reads the machine lines (`scale=... scenario=...`) from the FILEs, which are
# krtgate-bench outputs of one or more scales (human, --json or --markdown mode all carry them).
# Needs gnuplot (Debian: gnuplot-nox). Writes nothing else; prints the data it plotted.
set -eu
if [ "$#" -lt 2 ]; then
    echo "usage: $0 OUT.svg FILE..." >&2
    exit 2
fi
out=$1
shift
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One row per scale: objects, then flush p50 (µs) per scenario, then the full recompute (µs) of
# the route-edit run; "?" where a scenario is missing.
grep -h '^scale=' "$@" | awk '
{
    delete f
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    s = f["scale"]; objects[s] = f["objects"]
    p50[s, f["scenario"]] = f["flush_p50_us"]
    if (f["scenario"] == "route-edit") full[s] = f["full_ms"] * 1000
}
END {
    n = split("route-edit listener-edit service-port pod-churn ns-relabel grant-delete", sc, " ")
    for (s in objects) {
        line = objects[s]
        for (i = 1; i <= n; i++) line = line " " ((s, sc[i]) in p50 ? p50[s, sc[i]] : "?")
        line = line " " (s in full ? full[s] : "?")
        print line
    }
}' | sort -n >"$tmp/data"

if [ ! -s "$tmp/data" ]; then
    echo "$0: no machine lines (scale=... scenario=...) in $*" >&2
    exit 1
fi
echo "# objects route-edit listener-edit service-port pod-churn ns-relabel grant-delete full(us)"
cat "$tmp/data"

gnuplot <<EOF
set terminal svg size 900,540 dynamic font "sans,12" background rgb "white"
set output "$out"
set datafile missing "?"
set logscale xy
set xtics ("1k" 1000, "3k" 3000, "10k" 10000, "30k" 30000, "100k" 100000, "300k" 300000, "1M" 1000000)
set ytics ("10 µs" 10, "100 µs" 100, "1 ms" 1000, "10 ms" 10000, "100 ms" 100000, "1 s" 1e6, "10 s" 1e7, "100 s" 1e8)
set xlabel "objects in the cluster"
set ylabel "time per change (change → flush p50)"
set title "krtgate bench: cost of one change, incremental against full recompute"
set key outside right
set grid
plot "$tmp/data" using 1:8 with linespoints lw 3 title "full recompute", \
     "" using 1:2 with linespoints title "route-edit", \
     "" using 1:3 with linespoints title "listener-edit", \
     "" using 1:4 with linespoints title "service-port", \
     "" using 1:5 with linespoints title "pod-churn (10 Pods)", \
     "" using 1:6 with linespoints title "ns-relabel", \
     "" using 1:7 with linespoints title "grant-delete"
EOF
echo "wrote $out"
