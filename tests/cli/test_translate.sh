#!/bin/sh
# `krtgate translate` end to end: the quickstart against its golden output, YAML output, a broken
# manifest reported with file:line while the rest still translates, and --watch --diff following
# edits to a live folder. Usage: test_translate.sh KRTGATE SRC_DIR
set -eu
bin=$1
src=$2
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# 1. The quickstart translates exactly to its golden lines (versions are content hashes).
"$bin" translate "$src/examples/quickstart" >"$tmp/out.jsonl" || fail "quickstart exit $?"
if ! diff -u "$src/tests/cli/quickstart.jsonl" "$tmp/out.jsonl"; then
    fail "quickstart output differs from tests/cli/quickstart.jsonl (if the change is intended, regenerate it)"
fi

# 2. -o yaml: one document per line, same content.
"$bin" translate -o yaml "$src/examples/quickstart" >"$tmp/out.yaml" || fail "yaml exit $?"
docs=$(grep -c '^---' "$tmp/out.yaml")
lines=$(wc -l <"$tmp/out.jsonl")
[ "$docs" -eq "$lines" ] || fail "yaml has $docs documents for $lines lines"
grep -q 'name: bind/8080/default/quickstart' "$tmp/out.yaml" || fail "yaml lacks the bind"

# 3. A broken document is reported with file:line; the valid ones still translate; exit 1.
mkdir "$tmp/broken"
cp "$src/examples/quickstart/"*.yaml "$tmp/broken/"
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n' >"$tmp/broken/zz-bad.yaml"
set +e
"$bin" translate "$tmp/broken" >"$tmp/broken.out" 2>"$tmp/broken.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "broken manifest: exit $rc, want 1"
grep -q 'zz-bad.yaml:[0-9]' "$tmp/broken.err" || fail "no file:line in: $(cat "$tmp/broken.err")"
grep -q '"name":"route/default/echo.00.http"' "$tmp/broken.out" || fail "valid objects lost"

# 4. Usage errors exit 2.
set +e
"$bin" translate >/dev/null 2>&1
rc=$?
"$bin" translate --diff "$src/examples/quickstart" >/dev/null 2>&1
rc2=$?
set -e
[ "$rc" -eq 2 ] && [ "$rc2" -eq 2 ] || fail "usage errors exit $rc/$rc2, want 2/2"

# 5. --watch --diff: an edit prints only what changed; a deletion prints deletions.
mkdir "$tmp/live"
cp "$src/examples/quickstart/"*.yaml "$tmp/live/"
"$bin" translate --watch --diff "$tmp/live" >"$tmp/live.out" 2>"$tmp/live.err" &
pid=$!
wait_for() { # PATTERN: wait up to 20 s for a line matching PATTERN
    i=0
    while ! grep -q "$1" "$tmp/live.out" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -le 200 ] || fail "timed out waiting for $1; got: $(cat "$tmp/live.out") $(cat "$tmp/live.err")"
        kill -0 "$pid" 2>/dev/null || fail "krtgate exited early: $(cat "$tmp/live.err")"
        sleep 0.1
    done
}
wait_for '"object":"HTTPRoute"'
initial=$(wc -l <"$tmp/live.out")
sed 's#value: /echo#value: /echo2#' "$tmp/live/route.yaml" >"$tmp/route.new"
mv "$tmp/route.new" "$tmp/live/route.yaml"
wait_for '"op":"update".*pathPrefix":"/echo2"'
# Only the route changed: no bind or listener line after the initial dump.
tail -n +"$((initial + 1))" "$tmp/live.out" | grep -q '"kind":"bind"' && fail "an unchanged bind was printed"
rm "$tmp/live/route.yaml"
wait_for 'route/default/echo.00.http","op":"delete"'
kill -TERM "$pid"
wait "$pid" || fail "krtgate --watch exited with $? on SIGTERM"
pid=
echo "cli/translate: all checks passed"
