#!/usr/bin/env bash
# Resilience of the study's artefact store, end to end, with the real binary:
#  1. a run killed with `kill -9` at several moments (5 by default), then resumed, ends with
#     the same numbers as an uninterrupted run and leaves no temporary files;
#  2. two runs started together on the same --out both succeed, give the same numbers,
#     leave no half-written artefact or temp file, and train each model once.
# Short on purpose (2 epochs, 2 methods, one scenario): a few minutes on 2 cores.
#
#   scripts/check-resume.sh [path/to/unlearn] [kill delays in seconds…]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
shift || true
DELAYS=("$@")
[ ${#DELAYS[@]} -gt 0 ] || DELAYS=(2 6 12 20 30 45)
if [ -z "$BIN" ]; then
  cargo build --release --quiet -p unlearn-cli
  BIN=target/release/unlearn
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ARGS=(reproduce --epochs 2 --methods ga,muda --scenarios random:0.1 --quiet)
start=$(date +%s)
"$BIN" "${ARGS[@]}" --out "$WORK/clean" > /dev/null 2>&1
echo "clean run: $(( $(date +%s) - start ))s"
for delay in "${DELAYS[@]}"; do
  setsid "$BIN" "${ARGS[@]}" --out "$WORK/killed" > /dev/null 2> "$WORK/err" &
  pid=$!
  sleep "$delay"
  kill -9 -- "-$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  echo "killed after ${delay}s during: $(grep -o 'seed 0: .*' "$WORK/err" | tail -1)"
done
"$BIN" "${ARGS[@]}" --out "$WORK/killed" > /dev/null 2>&1
# Two runs at once on one store.
"$BIN" "${ARGS[@]}" --out "$WORK/shared" > /dev/null 2> "$WORK/a.err" &
a=$!
"$BIN" "${ARGS[@]}" --out "$WORK/shared" > /dev/null 2> "$WORK/b.err" &
b=$!
rc=0
wait "$a" || { echo "first concurrent run failed:"; tail -5 "$WORK/a.err"; rc=1; }
wait "$b" || { echo "second concurrent run failed:"; tail -5 "$WORK/b.err"; rc=1; }
py=0
python3 - "$WORK" <<'PY' || py=$?
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
def numbers(d):
    out = []
    for line in open(d / "results.jsonl"):
        r = json.loads(line)
        r.pop("seconds", None)
        r.pop("rte_ratio", None)
        out.append(r)
    return out
clean = numbers(work / "clean")
ok = True
for name in ["killed", "shared"]:
    same = numbers(work / name) == clean
    print(f"{name}: {len(clean)} records, identical to the clean run: {same}")
    ok &= same
# Each model trained once in the shared store: its log has one line per epoch.
for log in sorted((work / "shared").rglob("*.log.jsonl")):
    epochs = [json.loads(l)["epoch"] for l in open(log)]
    once = epochs == list(range(1, len(epochs) + 1))
    print(f"shared {log.relative_to(work)}: epochs {epochs} (trained once: {once})")
    ok &= once
sys.exit(0 if ok else 1)
PY
left=$(find "$WORK/killed" "$WORK/shared" -name '.tmp*' | wc -l)
echo "temporary files left: $left"
[ "$left" -eq 0 ] && [ "$rc" -eq 0 ] && [ "$py" -eq 0 ]
