#!/usr/bin/env bash
# kill -9 resume check for `cargo xtask reproduce`: a run killed at two moments and then
# resumed must end with the same numbers as an uninterrupted run, and leave no temp files.
# Short on purpose (2 epochs, 2 methods, one scenario): about 2 minutes on 2 cores.
#
#   scripts/check-resume.sh [path/to/unlearn]     (default: builds target/release/unlearn)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet -p unlearn-cli
  BIN=target/release/unlearn
fi
cargo build --quiet -p xtask
XTASK=target/debug/xtask
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ARGS=(--epochs 2 --methods ga,muda --scenarios random:0.1 --bin "$BIN")
"$XTASK" reproduce "${ARGS[@]}" --out "$WORK/clean" > /dev/null 2>&1
for delay in 8 20; do
  setsid "$XTASK" reproduce "${ARGS[@]}" --out "$WORK/killed" > /dev/null 2> "$WORK/err" &
  pid=$!
  sleep "$delay"
  kill -9 -- "-$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  echo "killed after ${delay}s during: $(grep -o 'seed 0: .*' "$WORK/err" | tail -1)"
done
"$XTASK" reproduce "${ARGS[@]}" --out "$WORK/killed" > /dev/null 2>&1
python3 - "$WORK" <<'PY'
import json, sys
def numbers(d):
    out = []
    for line in open(f"{d}/results.jsonl"):
        r = json.loads(line)
        r.pop("seconds", None)
        r.pop("rte_ratio", None)
        out.append(r)
    return out
a, b = numbers(f"{sys.argv[1]}/clean"), numbers(f"{sys.argv[1]}/killed")
print(f"{len(a)} records; identical after kill -9 and resume: {a == b}")
sys.exit(0 if a == b else 1)
PY
left=$(find "$WORK/killed" -name '*.tmp*' | wc -l)
echo "temporary files left: $left"
[ "$left" -eq 0 ]
