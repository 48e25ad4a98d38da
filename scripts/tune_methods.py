#!/usr/bin/env python3
"""Hyper-parameter runs for `crates/unlearn-methods/TUNING.md`.

For each candidate: `unlearn forget --method M --set …` on a run folder of
`cargo xtask reproduce` (its split, its original, its retrain features), then
`unlearn features` and `unlearn metrics --reference <retrain features>`; appends one JSON
line (UA, RA, TA, MIA, DA_f, LP_f, both average gaps, ASR for a backdoor split, seconds)
to the log and prints it.

Usage:
  scripts/tune_methods.py RUN_DIR METHOD [SEED] -- "k=v;k=v" "k=v" ...
  e.g. scripts/tune_methods.py target/reproduce/quick/class-3/seed0 muda -- "" "lr_forget=0.01;lambda_sd=0.3"

An empty candidate ("") runs the current defaults. Environment: BIN (the `unlearn`
binary, default target/release/unlearn), DATA (default embedded), LOG (default
target/tune/log.jsonl).
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import time

BIN = os.environ.get("BIN", "target/release/unlearn")
DATA = os.environ.get("DATA", "embedded")
LOG = os.environ.get("LOG", "target/tune/log.jsonl")


def original_of(run_dir, seed):
    own = os.path.join(run_dir, "original.safetensors")
    if os.path.exists(own):
        return own
    # a backdoor run has its own (poisoned) original: the records of the run name it
    for record in sorted(glob.glob(os.path.join(run_dir, "*.record.json"))):
        with open(record) as f:
            named = json.load(f).get("original")
        if named and os.path.exists(named):
            return named
    # `cargo xtask reproduce` keeps originals in <out>/originals/seed<k>-<key>.safetensors
    out = os.path.dirname(os.path.dirname(os.path.abspath(run_dir)))
    found = sorted(glob.glob(os.path.join(out, "originals", f"seed{seed}-*.safetensors")))
    if not found:
        sys.exit(f"no original checkpoint for seed {seed} next to {run_dir}")
    return found[0]


def run_one(run_dir, method, sets, seed):
    os.makedirs(os.path.dirname(LOG) or ".", exist_ok=True)
    key = hashlib.sha1(json.dumps([run_dir, method, sets, seed, BIN]).encode()).hexdigest()[:12]
    tmp = os.path.dirname(LOG) or "."
    model = os.path.join(tmp, f"m-{key}.safetensors")
    feats = os.path.join(tmp, f"f-{key}.safetensors")
    split = os.path.join(run_dir, "split.json")
    start = time.time()
    cmd = [BIN, "forget", "--method", method, "--data", DATA, "--seed", str(seed), "--quiet",
           "--checkpoint", original_of(run_dir, seed), "--split", split, "--out", model]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True)
    rec = {"dir": run_dir, "method": method, "sets": sets, "seed": seed}
    if r.returncode != 0:
        rec["failed"] = r.stderr.strip()[-300:]
    else:
        subprocess.run([BIN, "features", "--data", DATA, "--quiet", "--checkpoint", model,
                        "--split", split, "--out", feats], check=True, capture_output=True)
        m = json.loads(subprocess.run(
            [BIN, "metrics", "--seed", str(seed), "--features", feats, "--reference",
             os.path.join(run_dir, "features", "retrain.safetensors"), "--json", "-"],
            check=True, capture_output=True, text=True).stdout)
        rec.update({k: m[k] for k in ["ua", "ra", "ta", "avg_gap_output", "avg_gap_feature"]})
        rec["mia"] = m["mia"]["confidence"]
        rec["da_f"] = m["da"]["forget"]
        rec["lp_f"] = m["lp"]["forget"]
        if m.get("asr") is not None:
            rec["asr"] = m["asr"]
        for p in (model, feats):
            os.remove(p)
    rec["seconds"] = round(time.time() - start, 1)
    with open(LOG, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    if "--" not in sys.argv or len(sys.argv) < 4:
        sys.exit(__doc__)
    i = sys.argv.index("--")
    run_dir, method = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if i > 3 else 0
    for combo in sys.argv[i + 1:]:
        run_one(run_dir, method, [s for s in combo.split(";") if s], seed)
