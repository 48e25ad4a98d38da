#!/usr/bin/env python3
"""Which MUDA variant does best on held-out seeds, after `cargo xtask reproduce --tune N`.

For one scenario of a tuned study, reads MUDA's search on the tuning seed
(`<store>/<slug>/seed0/tune/muda-*/trials.jsonl`) and, for every value of the variant
parameters (`da_form`, `da_on`, `forget_stage_steps`, `stop_rule`), takes the best trial
that used it. Each of those configurations is then run on every held-out seed of the store
with that seed's own split, original and retrain features (`unlearn forget --config`,
`unlearn features`, `unlearn metrics`), and the mean gaps are printed as a Markdown table
and written to `<store>/<slug>/muda-variants-heldout.json`.

Usage: scripts/heldout_variants.py STORE SCENARIO_SLUG [SEED ...]   (default seeds 1 2)
Environment: BIN (the `unlearn` binary, default target/release/unlearn).
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("BIN", "target/release/unlearn")
VARIANTS = ["da_form", "da_on", "forget_stage_steps", "stop_rule"]


def trials_of(store, slug):
    found = sorted(glob.glob(os.path.join(store, slug, "seed0", "tune", "muda-*", "trials.jsonl")))
    if not found:
        sys.exit(f"no MUDA search under {store}/{slug}/seed0/tune")
    return [json.loads(line) for line in open(found[-1])]


def candidates(trials):
    """(label, set) per variant value: the best finished trial with that value."""
    done = [t for t in trials if t.get("objective") is not None]
    out = {}
    best = min(done, key=lambda t: t["objective"])
    out["chosen (best trial %d)" % best["trial"]] = best
    for key in VARIANTS:
        values = {t["set"].get(key) for t in done if key in t["set"]}
        for v in sorted(values):
            with_v = [t for t in done if t["set"].get(key) == v]
            t = min(with_v, key=lambda t: t["objective"])
            out.setdefault(f"{key}={v} (trial {t['trial']})", t)
    return out


def run(store, slug, seed, sets, work):
    cell = os.path.join(store, slug, f"seed{seed}")
    record = json.load(open(os.path.join(cell, "muda.safetensors.record.json")))
    config = os.path.join(work, "c.toml")
    with open(config, "w") as f:
        f.write("[muda]\n")
        # Every value as a string: `--config` parses it by the parameter's type.
        for k, v in sets.items():
            f.write(f'{k} = "{v}"\n')
    model, feats = os.path.join(work, "m.safetensors"), os.path.join(work, "f.safetensors")
    split = os.path.join(cell, "split.json")
    subprocess.run([BIN, "forget", "--method", "muda", "--quiet", "--seed", str(seed),
                    "--checkpoint", record["original"], "--split", split, "--config", config,
                    "--out", model], check=True, capture_output=True)
    subprocess.run([BIN, "features", "--quiet", "--max-retain", "10000", "--checkpoint", model,
                    "--split", split, "--out", feats], check=True, capture_output=True)
    m = json.loads(subprocess.run(
        [BIN, "metrics", "--seed", str(seed), "--features", feats, "--reference",
         os.path.join(cell, "features", "retrain.safetensors"), "--json", "-"],
        check=True, capture_output=True, text=True).stdout)
    return m["avg_gap_output"], m["avg_gap_feature"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    store, slug = sys.argv[1], sys.argv[2]
    seeds = [int(s) for s in sys.argv[3:]] or [1, 2]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for label, t in candidates(trials_of(store, slug)).items():
            gaps = [run(store, slug, s, t["set"], work) for s in seeds]
            out = sum(g[0] for g in gaps) / len(gaps)
            feat = sum(g[1] for g in gaps) / len(gaps)
            rows.append({"variant": label, "set": t["set"], "tuned_on": t["objective"],
                         "heldout_output": out, "heldout_feature": feat,
                         "heldout_both": (out + feat) / 2})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    with open(os.path.join(store, slug, "muda-variants-heldout.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"| variant (best trial with it, seed 0) | tuned-on both | held-out output | held-out feature | held-out both |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['tuned_on']:.2f} | {r['heldout_output']:.2f} | "
              f"{r['heldout_feature']:.2f} | {r['heldout_both']:.2f} |")


if __name__ == "__main__":
    main()
