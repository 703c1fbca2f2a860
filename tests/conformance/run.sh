#!/bin/sh
# Gateway API conformance HTTP routing tests replayed through `krtgate run` (runner.py says how).
# Usage: run.sh KRTGATE SRC_DIR [runner.py options]
# Exits non-zero only when a test listed EXPECTED_PASS in expected.txt does not pass; the other
# failures are printed as known failures. Exit 77 (ctest SKIP_RETURN_CODE) when the runner cannot
# run here: no /usr/bin/python3, or loopback port 80 not bindable (not root).
set -eu
bin=${1:?usage: run.sh KRTGATE SRC_DIR}
src=${2:?usage: run.sh KRTGATE SRC_DIR}
shift 2  # anything else goes to runner.py (--only TEST..., --markdown FILE, --keep)
[ -x /usr/bin/python3 ] || { echo "conformance: /usr/bin/python3 missing, skipped"; exit 77; }
exec /usr/bin/python3 "$src/tests/conformance/runner.py" --krtgate "$bin" --src "$src" \
    --expected "$src/tests/conformance/expected.txt" "$@"
