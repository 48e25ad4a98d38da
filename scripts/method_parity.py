#!/usr/bin/env python3
"""End-to-end parity of one unlearning method against its authors' reference loop.

    python3 scripts/method_parity.py --bin target/release/unlearn --data embedded --method rl \
        [--arch small-cnn] [--scenario random:0.1] [--steps K] [--workdir DIR]

Drives the toolkit binary: `split`, a short `train` of the original, `data export`,
`forget --method M --trace T.jsonl` with settings that keep the run short; then replays the
trace in PyTorch (scripts/parity: the reference loop, randomness from the trace only) and
compares the weights. Prints the checks, and last exactly
    parity M: max relative weight difference X after K steps
exiting 1 when X > 2e-3 (2 when a command fails).
"""
import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

THRESHOLD = 2e-3

# Settings that keep a run short while still exercising each loop's structure (two epochs
# where the schedule changes across epochs: l1's coefficient, scrub's max/min and decay).
SHORT = {
    "ft": {"epochs": 1, "retain_budget": 0.1},
    "ga": {"epochs": 1},
    "neggrad+": {"epochs": 1, "retain_budget": 0.1},
    "rl": {"epochs": 1, "retain_budget": 0.1},
    "bs": {"epochs": 1},
    "be": {"epochs": 1},
    "l1": {"epochs": 2, "retain_budget": 0.05},
    "salun": {"epochs": 1, "retain_budget": 0.1},
    "scrub": {"epochs": 2, "max_epochs": 1, "retain_budget": 0.05, "lr_decay_epochs": "1"},
}


def run(cmd, log):
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    with open(log, "a") as f:
        f.write("$ " + " ".join(str(c) for c in cmd) + "\n")
        f.flush()
        r = subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = pathlib.Path(log).read_text().splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        print(f"command failed ({r.returncode}): {' '.join(str(c) for c in cmd)}", file=sys.stderr)
        sys.exit(2)


def method_defaults(binary, method):
    """The method's default parameters from `BIN methods M --json` (the object holding
    `lr` and `batch_size`), or None when that cannot be read."""
    try:
        out = subprocess.run([binary, "methods", method, "--json"], capture_output=True, text=True, check=True).stdout
        doc = json.loads(out)
    except Exception:
        return None
    hit = {}

    def walk(v):
        if isinstance(v, dict):
            if "lr" in v and "batch_size" in v and not hit:
                hit.update(v)
            for w in v.values():
                walk(w)
        elif isinstance(v, list):
            for w in v:
                walk(w)

    walk(doc)
    return hit or None


def rows_per_run(method, sets, n_forget, n_retain):
    """(rows of forget and retain batches over the run, epochs) for --steps sizing."""
    epochs = int(sets.get("epochs", 1))
    budget = float(sets.get("retain_budget", 1.0))
    r = max(1, round(n_retain * budget))
    if method in ("ga", "bs", "be"):
        return n_forget * epochs, 0
    if method in ("ft", "l1", "neggrad+"):
        return 0, r * epochs
    if method in ("rl", "salun"):
        return n_forget * epochs, r * epochs
    if method == "scrub":
        return n_forget * int(sets.get("max_epochs", 1)), r * epochs
    return n_forget, r


def no_singletons(bs, sizes):
    """A batch size that leaves no last batch of one row (PyTorch's BatchNorm refuses a
    single row in training mode when the spatial size is 1x1, e.g. resnet18 on 28x28)."""
    while any(n % bs == 1 for n in sizes if n > 1) and bs < max(sizes):
        bs += 1
    return bs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", required=True)
    ap.add_argument("--arch", default="small-cnn")
    ap.add_argument("--scenario", default="random:0.1")
    ap.add_argument("--steps", type=int, default=None, help="size the batches so the run has about K steps")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-epochs", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra forget overrides")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from parity.methods import METHODS
    from parity.replay import compare, replay

    if args.method not in METHODS:
        ap.error(f"--method: one of {', '.join(METHODS)}")
    binary = os.path.abspath(args.bin)
    work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix=f"parity-{args.method}-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    split = work / "split.json"
    original = work / f"original-{args.arch}.safetensors"
    export = work / "data.safetensors"
    out = work / f"{args.arch}-{args.method.replace('+', 'plus')}.safetensors"
    trace = work / f"{args.arch}-{args.method.replace('+', 'plus')}.trace.jsonl"

    if not split.exists():
        run([binary, "split", "--data", args.data, "--scenario", args.scenario, "--seed", args.seed, "--out", split], log)
    if not original.exists():
        run([binary, "train", "--data", args.data, "--split", split, "--subset", "train", "--arch", args.arch,
             "--epochs", args.train_epochs, "--seed", args.seed, "--device", args.device, "--quiet", "--out", original], log)
    if not export.exists():
        run([binary, "data", "export", "--data", args.data, "--split", split, "--out", export], log)

    manifest = json.loads(split.read_text())
    n_forget, n_retain = len(manifest["forget"]), len(manifest["retain"])
    base = method_defaults(binary, args.method)
    keys = set(base) if base else None
    base = base or {}
    sets = dict(SHORT.get(args.method, {}))
    bs = int(base.get("batch_size", 128))
    fbs = int(base.get("forget_batch_size", bs))
    if args.steps:
        f_rows, r_rows = rows_per_run(args.method, sets, n_forget, n_retain)
        bs = max(2, math.ceil((f_rows + r_rows) / args.steps))
        fbs = bs
    sizes = [n_forget, max(1, round(n_retain * float(sets.get("retain_budget", 1.0))))]
    bs = no_singletons(bs, sizes)
    fbs = no_singletons(fbs, sizes)
    sets["batch_size"] = bs
    if args.method == "scrub":
        sets["forget_batch_size"] = fbs
    for kv in args.set:
        k, _, v = kv.partition("=")
        sets[k] = v
    if keys is not None:
        dropped = sorted(k for k in sets if k not in keys)
        for k in dropped:
            del sets[k]
        if dropped:
            print(f"(not parameters of {args.method}, left out: {', '.join(dropped)})")
    for p in (out, trace, pathlib.Path(str(out) + ".record.json")):
        if p.exists():
            p.unlink()
    cmd = [binary, "forget", "--method", args.method, "--checkpoint", original, "--data", args.data, "--split", split,
           "--seed", args.seed, "--device", args.device, "--quiet", "--trace", trace, "--out", out]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    run(cmd, log)

    record = pathlib.Path(str(out) + ".record.json")
    if not record.exists():
        alt = out.with_suffix(".record.json")
        record = alt if alt.exists() else record
    state, report = replay(original, export, record, trace, forget_order=sorted(manifest["forget"]), method=args.method)
    x, per, notes = compare(state, out, detail=True)
    report["max_rel_weight_diff"] = x
    report["worst_tensors"] = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    report["int_buffer_notes"] = notes
    steps = report["structure"]["steps"]
    (work / f"{args.arch}-{args.method.replace('+', 'plus')}.parity.json").write_text(
        json.dumps({k: v for k, v in report.items() if k != "losses"}, indent=1) + "\n"
    )

    show = {k: v for k, v in report.items() if k not in ("losses", "worst_tensors", "int_buffer_notes", "method", "arch")}
    print(f"workdir {work}")
    for k, v in show.items():
        print(f"  {k}: {json.dumps(v)}")
    for name, d in report["worst_tensors"]:
        print(f"  worst tensor {name}: {d:.3e}")
    for n in notes:
        print(f"  note: {n}")
    print(f"parity {args.method}: max relative weight difference {x:.3e} after {steps} steps")
    sys.exit(0 if x <= THRESHOLD else 1)


if __name__ == "__main__":
    main()
