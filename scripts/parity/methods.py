"""One replay per method, following the authors' reference loops.

References (read, cited by file:line; nothing is copied):
  SALUN = OPTML-Group/Unlearn-Saliency @ a6e89fd, Classification/
    unlearn/impl.py:68-73     one torch.optim.SGD(lr, momentum, weight_decay) for the run;
    unlearn/impl.py:95-97     MultiStepLR(milestones=decreasing_lr, gamma=0.1), stepped per
                              epoch (impl.py:114)
    unlearn/FT.py:116-144     FT / FT_l1: model.train(), CE on retain batches (+ alpha_e·‖θ‖₁,
                              alpha_e = alpha·(1 − e/(E − no_l1_epochs)) before E − no_l1_epochs,
                              else 0: FT.py:124-134; ‖θ‖₁ over model.parameters(): FT.py:13-17)
    unlearn/GA.py:107-128     GA: model.train(), −CE on forget batches
    unlearn/RL.py:109-159     RL (cifar10/svhn branch): model.train(); each epoch all forget
                              batches with targets randint(0, C) (RL.py:125), then all retain
                              batches with true labels (RL.py:142-159)
    unlearn/RL.py:11-34,42-49 SalUn = RL with a mask: grad *= mask before step; after step,
                              masked-out weights back to theta0 (taken at each epoch start)
                              and their momentum zeroed
    unlearn/boundary_sh.py:35-52,80-99  BS: frozen copy of the original in eval mode; FGSM in
                              [0,1] pixel space with the true labels, x_adv = round(clamp(x +
                              bound·sign ∇x CE, 0, 1)·255)/255; label = argmax of the copy on
                              x_adv; model.train(), CE(model(x), label)
    unlearn/boundary_ex.py:34-67,91-99  BE: a (C+1)-th row appended to the last Linear, before
                              the optimiser is built (boundary_ex.py:136-138, impl.py:68);
                              model.train(), CE with every target = C
    generate_mask.py:25-48,57-79  SalUn saliency: model.eval(); Σ over forget batches of
                              ∇(−CE); |·|; one ranking over all parameters; mask = rank <
                              int(n·ratio)
  SCRUB = meghdadk/SCRUB @ 98ffb11
    thirdparty/repdistiller/helper/loops.py:12-52    NegGrad+: model.train(); per retain
                              batch zipped with cycle(forget loader): forward retain, then
                              forget; loss = α·CE_r − (1−α)·CE_f
    thirdparty/repdistiller/helper/loops.py:137-265  SCRUB: student train(), teacher eval();
                              student forward, then teacher (no_grad); maximize: −KL;
                              minimize: γ·CE + α·KL (+ β·0 for distill='kd')
    thirdparty/repdistiller/distiller_zoo/KD.py:13-17  KL(log_softmax(s/T), softmax(t/T), sum)·T²/B
    thirdparty/repdistiller/helper/util.py:22-30  lr = lr0·rate^#{m: epoch > m}, 1-based epoch
    large_scale_unlearning.ipynb cells 34-36     SGD(lr, momentum, wd) once; for epoch in
                              1..=sgda_epochs: adjust lr; max pass if epoch <= msteps; min pass

Randomness is taken from the trace only (batch rows and order, crops and flips, RL/SalUn's
forget targets, BE's shadow row, SalUn's mask). Everything else is recomputed here and the
trace's own values are checked against it (learning rate, loss, true labels, BS's labels,
SalUn's mask, the loop structure); the replay always uses the recomputed values.
"""
import copy
import math
from collections import defaultdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .models import head_name

METHODS = ("ft", "ga", "neggrad+", "rl", "bs", "be", "l1", "salun", "scrub")


# --------------------------------------------------------------------------- helpers


def _milestones(value):
    """A milestone list from the record: "3,5,9", [3, 5, 9], "" or None."""
    if value is None:
        return []
    if isinstance(value, str):
        return [int(v) for v in value.replace(";", ",").split(",") if v.strip()]
    if isinstance(value, (int, float)):
        return [int(value)]
    return [int(v) for v in value]


def saliency_lr(params, epoch):
    """Unlearn-Saliency's lr for 0-based `epoch`: MultiStepLR(gamma 0.1) after `epoch`
    scheduler steps (impl.py:95-97, 114), i.e. lr0·0.1^#{m ≤ epoch}. Constant when the
    record names no milestones (`decreasing_lr`)."""
    lr0 = float(params["lr"])
    ms = _milestones(params.get("decreasing_lr"))
    return lr0 * 0.1 ** sum(1 for m in ms if m <= epoch)


def scrub_lr(params, epoch):
    """SCRUB's `adjust_learning_rate` (util.py:22-30) at 1-based epoch `epoch + 1`."""
    lr0 = float(params["lr"])
    ms = _milestones(params.get("lr_decay_epochs"))
    rate = float(params.get("lr_decay_rate", 0.1))
    steps = sum(1 for m in ms if epoch + 1 > m)
    return lr0 * rate**steps if steps > 0 else lr0


def distill_kl(s, t, temp):
    """DistillKL (KD.py:13-17): KL(softmax(t/T) ‖ softmax(s/T)) summed, ·T²/B."""
    p_s = F.log_softmax(s / temp, dim=1)
    p_t = F.softmax(t / temp, dim=1)
    return F.kl_div(p_s, p_t, reduction="sum") * (temp**2) / s.shape[0]


def l1_norm(model):
    """‖θ‖₁ over model.parameters() (FT.py:13-17)."""
    return torch.linalg.norm(torch.cat([p.view(-1) for p in model.parameters()]), ord=1)


def l1_alpha(params, epoch):
    """FT_l1's coefficient for 0-based `epoch` (FT.py:124-129)."""
    alpha = float(params["alpha"])
    epochs = int(params["epochs"])
    no_l1 = int(params.get("no_l1_epochs", 0))
    span = epochs - no_l1
    if epoch < span:
        return alpha * (1 - epoch / span)
    return 0.0


def _rel(a, b, floor=1e-4):
    return abs(a - b) / max(abs(b), floor)


class Ctx:
    """What a replay works on: the model, a frozen copy of the original, the data, the
    record's parameters, the trace, and the report being filled."""

    def __init__(self, model, spec, export, params, trace, trace_path, forget_order=None):
        self.model = model
        self.original = copy.deepcopy(model).eval()
        for p in self.original.parameters():
            p.requires_grad_(False)
        self.spec = spec
        self.arch = spec["arch"]
        self.classes = spec["num_classes"]
        self.data = export
        self.params = params
        self.trace = trace
        self.trace_path = str(trace_path)
        self.forget_order = forget_order
        self.report = {}
        self.losses = []
        self.loss_rows = []  # (step, replay, trace)
        self.lr_rows = []  # (step, reference, trace)
        self.label_mismatch = 0
        self.label_rows = 0
        self.notes = []
        # the replay's float type (float32 as the references run; float64 gives the
        # reference loop's exact answer where float32 rounding is amplified)
        self.dtype = next(model.parameters()).dtype

    # ---- building blocks
    def sgd(self, params=None):
        p = self.params
        return torch.optim.SGD(
            self.model.parameters() if params is None else params,
            lr=float(p["lr"]),
            momentum=float(p.get("momentum", 0.0)),
            weight_decay=float(p.get("weight_decay", 0.0)),
        )

    def inputs(self, part):
        return self.data.batch(part["indices"], part.get("augment")).to(self.dtype)

    def true_labels(self, part, check=True):
        y = self.data.true_labels(part["indices"])
        if check and part.get("labels") is not None:
            t = torch.tensor(part["labels"], dtype=torch.int64)
            self.label_rows += len(y)
            if t.shape != y.shape:
                self.label_mismatch += len(y)
            else:
                self.label_mismatch += int((t != y).sum())
        return y

    def traced_labels(self, part):
        return torch.tensor(part["labels"], dtype=torch.int64)

    def check_lr(self, line, lr):
        self.lr_rows.append((line["step"], lr, float(line.get("lr", float("nan")))))

    def check_loss(self, line, loss):
        v = float(loss.detach())
        self.losses.append(v)
        self.loss_rows.append((line["step"], v, float(line.get("loss", float("nan")))))

    def finish(self):
        """Fill the common parts of the report."""
        rows = [(s, r, t) for (s, r, t) in self.loss_rows if math.isfinite(t)]
        if rows:
            worst = max(rows, key=lambda x: _rel(x[1], x[2]))
            self.report["loss"] = {
                "max_rel_diff": _rel(worst[1], worst[2]),
                "max_abs_diff": max(abs(r - t) for (_, r, t) in rows),
                "worst_step": worst[0],
                "worst_replay": worst[1],
                "worst_trace": worst[2],
                "rel_floor": 1e-4,
            }
        lr_bad = [(s, a, b) for (s, a, b) in self.lr_rows if not (abs(a - b) <= 1e-9 * max(abs(a), 1e-12) + 1e-15)]
        self.report["lr"] = {
            "steps": len(self.lr_rows),
            "mismatched_steps": len(lr_bad),
            "max_abs_diff": max((abs(a - b) for (_, a, b) in self.lr_rows), default=0.0),
            "first_mismatch": (
                {"step": lr_bad[0][0], "reference": lr_bad[0][1], "trace": lr_bad[0][2]} if lr_bad else None
            ),
        }
        if self.label_rows:
            self.report["true_labels"] = {"rows": self.label_rows, "mismatched": self.label_mismatch}
        if self.notes:
            self.report["notes"] = self.notes


def _step(ctx, opt, lr, loss, mask=None, theta0=None):
    """zero_grad, backward, [mask grads], SGD step, [restore masked weights] (RL.py:131-140)."""
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad()
    loss.backward()
    if mask is not None:
        # RL.py:11-14 (_apply_mask_to_grads)
        for name, p in ctx.model.named_parameters():
            if p.grad is not None:
                p.grad.mul_(mask[name])
    opt.step()
    if mask is not None:
        # RL.py:17-34 (_restore_masked_params)
        with torch.no_grad():
            for name, p in ctx.model.named_parameters():
                if name not in mask:
                    continue
                m = mask[name]
                inv = 1 - m
                if torch.count_nonzero(inv) == 0:
                    continue
                p.mul_(m).add_(theta0[name] * inv)
                state = opt.state.get(p)
                if state is not None and "momentum_buffer" in state and state["momentum_buffer"] is not None:
                    state["momentum_buffer"].mul_(m)


def _by_epoch(trace):
    out = defaultdict(list)
    for line in trace:
        out[int(line["epoch"])].append(line)
    return dict(sorted(out.items()))


def _coverage(lines, key="indices"):
    """(number of rows, number of distinct rows, sorted distinct rows) of some steps."""
    rows = [i for line in lines for i in line[key]]
    return len(rows), len(set(rows)), sorted(set(rows))


def _check_stages(ctx, allowed):
    bad = sorted({line.get("stage") for line in ctx.trace} - set(allowed))
    if bad:
        ctx.notes.append(f"unexpected stages {bad} (expected {sorted(allowed)})")


def _check_passes(ctx, stage, name):
    """Each epoch's `stage` steps visit a set once, the same set every epoch (one pass of
    a shuffled DataLoader over that set)."""
    per = {}
    for e, lines in _by_epoch(ctx.trace).items():
        sel = [l for l in lines if l.get("stage") == stage]
        if not sel:
            continue
        n, d, rows = _coverage(sel)
        per[e] = (n, d, rows)
    same = len({tuple(v[2]) for v in per.values()}) <= 1
    once = all(n == d for (n, d, _) in per.values())
    ctx.report[f"{name}_passes"] = {
        "epochs": len(per),
        "rows_per_epoch": [per[e][0] for e in sorted(per)],
        "each_row_once_per_epoch": once,
        "same_set_every_epoch": same,
    }
    return per


def _param_notes(ctx):
    """RL/SalUn options that leave the reference's cifar10 branch."""
    p = ctx.params
    if p.get("labels", "per_batch") != "per_batch":
        ctx.notes.append(f"labels = {p['labels']}: RL.py:125 redraws randint(0, C) for every forget batch")
    if p.get("order", "forget_first") != "forget_first":
        ctx.notes.append(f"order = {p['order']}: RL.py:123-159 runs the forget batches, then the retain batches")
    if p.get("mask_scope", "global") != "global":
        ctx.notes.append(f"mask_scope = {p['mask_scope']}: generate_mask.py:57-79 ranks all weights together")


def _train_fw(ctx, x):
    ctx.model.train()
    return ctx.model(x)


# --------------------------------------------------------------------------- methods


def replay_ft(ctx):
    """FT (FT.py:116-144): CE on retain batches, model.train()."""
    _check_stages(ctx, {"retain", "train"})
    _check_passes(ctx, ctx.trace[0].get("stage", "retain") if ctx.trace else "retain", "retain")
    opt = ctx.sgd()
    for line in ctx.trace:
        lr = saliency_lr(ctx.params, int(line["epoch"]))
        ctx.check_lr(line, lr)
        x, y = ctx.inputs(line), ctx.true_labels(line)
        loss = F.cross_entropy(_train_fw(ctx, x), y)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss)


def replay_l1(ctx):
    """FT_l1 (FT.py:116-144 with with_l1): CE + alpha_e·‖θ‖₁ on retain batches."""
    _check_stages(ctx, {"retain", "train"})
    _check_passes(ctx, ctx.trace[0].get("stage", "retain") if ctx.trace else "retain", "retain")
    opt = ctx.sgd()
    worst = 0.0
    for line in ctx.trace:
        e = int(line["epoch"])
        lr = saliency_lr(ctx.params, e)
        ctx.check_lr(line, lr)
        alpha = l1_alpha(ctx.params, e)
        if "l1_alpha" in line:
            worst = max(worst, abs(alpha - float(line["l1_alpha"])))
        x, y = ctx.inputs(line), ctx.true_labels(line)
        ce = F.cross_entropy(_train_fw(ctx, x), y)
        # FT.py:133-134: `loss += current_alpha * l1` (a zero coefficient adds nothing)
        loss = ce + alpha * l1_norm(ctx.model)
        # The value checked and recorded takes ‖θ‖₁ summed in float64: PyTorch's float32
        # `linalg.norm(·, 1)` over ResNet-18's 11.2 M weights is 0.25 % short of the exact
        # sum (230790.9 against 231373.8 on the parity case's original), which moved the
        # reported loss by 0.29. The backward pass (α·sign(θ)) is the reference's.
        with torch.no_grad():
            exact = sum(float(p.detach().double().abs().sum()) for p in ctx.model.parameters())
        ctx.check_loss(line, ce.detach().double() + alpha * exact)
        _step(ctx, opt, lr, loss)
    ctx.report["l1_alpha"] = {
        "max_abs_diff_vs_trace": worst,
        "schedule": [l1_alpha(ctx.params, e) for e in range(int(ctx.params["epochs"]))],
    }


def replay_ga(ctx):
    """GA (GA.py:107-128): −CE on forget batches, model.train()."""
    _check_stages(ctx, {"forget"})
    _check_passes(ctx, "forget", "forget")
    opt = ctx.sgd()
    for line in ctx.trace:
        lr = saliency_lr(ctx.params, int(line["epoch"]))
        ctx.check_lr(line, lr)
        x, y = ctx.inputs(line), ctx.true_labels(line)
        loss = -F.cross_entropy(_train_fw(ctx, x), y)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss)


def _neggrad_cycle_check(ctx):
    """How the forget batches of each epoch compare with zip(retain, cycle(forget loader))
    (loops.py:23): a fresh forget pass each epoch starting at its first batch, batches of
    the forget batch size with a partial last one, and after the pass the same batches
    again, identical rows and (being cached tensors) identical augmentation."""
    fbs = int(ctx.params.get("forget_batch_size", ctx.params.get("batch_size", 0)) or 0)
    out = {"epochs": []}
    for e, lines in _by_epoch(ctx.trace).items():
        pairs = [l["pair"] for l in lines if l.get("pair")]
        if not pairs:
            continue
        # the first pass: batches until some row repeats
        seen, first = set(), []
        for p in pairs:
            if seen.intersection(p["indices"]):
                break
            seen.update(p["indices"])
            first.append(p)
        rest = pairs[len(first):]
        replays_same_rows = all(
            list(rest[i]["indices"]) == list(first[i % len(first)]["indices"]) for i in range(len(rest))
        )
        replays_same_aug = all(
            rest[i].get("augment") == first[i % len(first)].get("augment") for i in range(len(rest))
        )
        sizes = [len(p["indices"]) for p in first]
        out["epochs"].append(
            {
                "epoch": e,
                "pairs": len(pairs),
                "first_pass_batches": len(first),
                "first_pass_rows": sum(sizes),
                "batch_sizes_ok": (not fbs) or all(s == fbs for s in sizes[:-1]) and sizes[-1] <= fbs,
                "later_batches_repeat_first_pass_rows": replays_same_rows,
                "later_batches_repeat_first_pass_augment": replays_same_aug,
            }
        )
    ctx.report["forget_cycle"] = out


def replay_neggrad(ctx):
    """NegGrad+ (loops.py:12-52): retain forward, then forget forward, both model.train();
    loss = β·CE_r − (1−β)·CE_f with β the weight of the retain loss (the reference's α)."""
    _check_stages(ctx, {"retain", "train"})
    _check_passes(ctx, ctx.trace[0].get("stage", "retain") if ctx.trace else "retain", "retain")
    _neggrad_cycle_check(ctx)
    if float(ctx.params.get("clip_grad_norm", 0) or 0) > 0:
        ctx.notes.append(
            f"clip_grad_norm = {ctx.params['clip_grad_norm']}: train_negrad (loops.py:49-52) does not clip; the replay does not"
        )
    beta = float(ctx.params["beta"])
    opt = ctx.sgd()
    for line in ctx.trace:
        pair = line.get("pair")
        if not pair:
            raise ValueError(f"neggrad+ step {line['step']} has no forget pair")
        lr = saliency_lr(ctx.params, int(line["epoch"]))
        ctx.check_lr(line, lr)
        xr, yr = ctx.inputs(line), ctx.true_labels(line)
        xf, yf = ctx.inputs(pair), ctx.true_labels(pair)
        ctx.model.train()
        out_r = ctx.model(xr)  # loops.py:36
        out_f = ctx.model(xf)  # loops.py:37
        loss = beta * F.cross_entropy(out_r, yr) - (1 - beta) * F.cross_entropy(out_f, yf)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss)


def _rl_structure(ctx):
    """RL.py:123-159: per epoch, every forget step before every retain step; forget targets
    uniform over 0..C (RL.py:125)."""
    order_ok = True
    for e, lines in _by_epoch(ctx.trace).items():
        stages = [l.get("stage") for l in lines]
        if "retain" in stages and "forget" in stages:
            last_f = max(i for i, s in enumerate(stages) if s == "forget")
            first_r = min(i for i, s in enumerate(stages) if s == "retain")
            order_ok &= last_f < first_r
    _check_passes(ctx, "forget", "forget")
    _check_passes(ctx, "retain", "retain")
    n = in_range = same = 0
    counts = np.zeros(ctx.classes, dtype=np.int64)
    for line in ctx.trace:
        if line.get("stage") != "forget":
            continue
        t = np.asarray(line["labels"], dtype=np.int64)
        y = ctx.data.labels[np.asarray(line["indices"], dtype=np.int64)]
        n += len(t)
        ok = (t >= 0) & (t < ctx.classes)
        in_range += int(ok.sum())
        same += int((t == y).sum())
        counts += np.bincount(t[ok], minlength=ctx.classes)[: ctx.classes]
    ctx.report["forget_targets"] = {
        "rows": n,
        "in_0_to_C": in_range,
        "equal_true_label": same,
        "equal_true_label_share": same / n if n else None,
        "expected_share": 1.0 / ctx.classes,
        "per_class": counts.tolist(),
    }
    ctx.report["forget_before_retain_each_epoch"] = bool(order_ok)


def _rl_loop(ctx, mask=None):
    opt = ctx.sgd()
    theta0, epoch = None, None
    for line in ctx.trace:
        e = int(line["epoch"])
        if mask is not None and e != epoch:
            # RL.py:42-49: theta0 taken at the start of every epoch
            with torch.no_grad():
                theta0 = {n: p.detach().clone() for n, p in ctx.model.named_parameters() if n in mask}
        epoch = e
        lr = saliency_lr(ctx.params, e)
        ctx.check_lr(line, lr)
        x = ctx.inputs(line)
        if line.get("stage") == "forget":
            y = ctx.traced_labels(line)  # RL.py:125, drawn on the Rust side
        elif line.get("stage") == "train":
            # order = mixed (RL.py:51-59, the cifar100 branch): forget and retain rows in one
            # batch; the trace's targets are used for every row
            y = ctx.traced_labels(line)
        else:
            y = ctx.true_labels(line)  # RL.py:144
        loss = F.cross_entropy(_train_fw(ctx, x), y)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss, mask, theta0)


def replay_rl(ctx):
    _check_stages(ctx, {"forget", "retain"})
    _rl_structure(ctx)
    _rl_loop(ctx)
    _param_notes(ctx)


def saliency(ctx, indices, batch_size):
    """|Σ_b ∇(−CE_b)| of the original in eval mode over forget batches of `indices`, no
    augmentation (generate_mask.py:25-48). A dict name -> tensor."""
    net = copy.deepcopy(ctx.original)
    for p in net.parameters():
        p.requires_grad_(True)
    net.eval()
    grads = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for s in range(0, len(indices), batch_size):
        rows = indices[s : s + batch_size]
        x = ctx.data.batch(rows).to(ctx.dtype)
        y = ctx.data.true_labels(rows)
        net.zero_grad()
        loss = -F.cross_entropy(net(x), y)
        loss.backward()
        with torch.no_grad():
            for n, p in net.named_parameters():
                if p.grad is not None:
                    grads[n] += p.grad
    return {n: g.abs() for n, g in grads.items()}


def reference_mask(sal, ratio):
    """generate_mask.py:57-79: one ranking of −|g| over all parameters (in named_parameters
    order); mask = rank < int(n·ratio)."""
    names = list(sal)
    flat = -torch.cat([sal[n].flatten() for n in names])
    k = int(len(flat) * ratio)
    positions = torch.argsort(flat)
    ranks = torch.argsort(positions)
    keep = (ranks < k).to(torch.uint8)
    out, at = {}, 0
    for n in names:
        m = sal[n].numel()
        out[n] = keep[at : at + m].reshape(sal[n].shape)
        at += m
    return out, k


def _mask_check(ctx, mask):
    """Recompute the saliency per generate_mask.py and compare it with the traced mask."""
    forget_rows = sorted({i for l in ctx.trace if l.get("stage") == "forget" and int(l["epoch"]) == int(ctx.trace[0]["epoch"]) for i in l["indices"]})
    order = list(ctx.forget_order) if ctx.forget_order is not None else forget_rows
    bs = int(ctx.params.get("batch_size", 128))
    sal = saliency(ctx, order, bs)
    ratio = float(ctx.params.get("sparsity", 0.5))
    mine, k_floor = reference_mask(sal, ratio)
    names = list(sal)
    g = torch.cat([sal[n].flatten() for n in names]).double()
    traced = torch.cat([mask[n].flatten().round().to(torch.uint8) for n in names])
    ref = torch.cat([mine[n].flatten() for n in names])
    n = g.numel()
    kept = int(traced.sum())
    g_in = g[traced == 1]
    g_out = g[traced == 0]
    min_in = float(g_in.min()) if g_in.numel() else float("inf")
    max_out = float(g_out.max()) if g_out.numel() else 0.0
    # |g| at the boundary of the reference's own mask: entries within a relative band
    # around it are ties between implementations (gradient sums differ by rounding).
    thr = float(torch.sort(g, descending=True).values[max(k_floor - 1, 0)]) if n else 0.0
    band = 1e-3 * thr + 1e-12
    differ = traced != ref
    outside = differ & ((g - thr).abs() > band)
    rep = {
        "params": n,
        "traced_kept": kept,
        "reference_kept_int_floor": k_floor,
        "round_half_kept": int(round(n * ratio)),
        "same_count_as_reference": kept == k_floor,
        "traced_min_in": min_in,
        "traced_max_out": max_out,
        "traced_in_ge_out_within_1e-3": bool(min_in >= max_out * (1 - 1e-3)),
        "entries_differing_from_reference_mask": int(differ.sum()),
        "of_which_outside_tie_band": int(outside.sum()),
        "agreement": 1.0 - float(differ.sum()) / max(n, 1),
        "saliency_batch_size": bs,
        "saliency_rows": len(order),
        "scope": ctx.params.get("mask_scope", "global"),
    }
    if "mask_kept" in ctx.trace[0]:
        rep["trace_mask_kept"] = int(ctx.trace[0]["mask_kept"])
    missing = [n for n, _ in ctx.model.named_parameters() if n not in mask]
    if missing:
        rep["params_without_mask"] = missing
    ctx.report["mask"] = rep


def _mask_path(ctx):
    """The traced mask file: step 0's `mask_file`, a name next to the trace or a suffix of
    the trace's file name (`<trace>.mask.safetensors`, as `Trace::attach` writes it)."""
    import os

    name = ctx.trace[0].get("mask_file") if ctx.trace else None
    here = os.path.dirname(os.path.abspath(ctx.trace_path))
    cands = []
    if name:
        cands += [name if os.path.isabs(name) else os.path.join(here, name), f"{ctx.trace_path}.{name}", name]
    cands.append(f"{ctx.trace_path}.mask.safetensors")
    for c in cands:
        if os.path.isfile(c):
            return c
    raise ValueError(f"salun: no mask file found (tried {cands})")


def _load_mask(ctx):
    from safetensors.torch import load_file

    path = _mask_path(ctx)
    raw = load_file(path)
    params = dict(ctx.model.named_parameters())
    mask = {}
    for n, t in raw.items():
        if n in params:
            if tuple(t.shape) != tuple(params[n].shape):
                raise ValueError(f"mask {n}: shape {tuple(t.shape)} vs {tuple(params[n].shape)}")
            mask[n] = t.to(ctx.dtype)
    missing = [n for n in params if n not in mask]
    if missing:
        # _apply_mask_to_grads (RL.py:13) indexes mask[name] for every parameter
        raise ValueError(f"mask file has no entry for {missing[:5]}{'…' if len(missing) > 5 else ''}")
    return mask, path


def replay_salun(ctx):
    _check_stages(ctx, {"forget", "retain"})
    _rl_structure(ctx)
    _param_notes(ctx)
    mask, path = _load_mask(ctx)
    _mask_check(ctx, mask)
    ctx.report["mask"]["file"] = path
    _rl_loop(ctx, mask)


def fgsm_labels(ctx, x, pixels, y, eps):
    """BS's labels (boundary_sh.py:39-52, 89-95). The reference's inputs are ToTensor's
    [0, 1] pixels and its model normalises inside, so: x_pix = pixel / 255; one FGSM step
    of the frozen original in eval mode with the true labels, x_adv = round(clamp(x_pix +
    eps·sign ∇ CE, 0, 1)·255)/255 (torch.round: half to even); label = argmax over all
    classes of the original on x_adv, normalised. The gradient is taken at the normalised
    batch `x` (the model's own input): ∂/∂x_pix = ∂/∂x / std, std > 0, has the same sign."""
    net = ctx.original
    net.eval()
    mean, std = (t.to(ctx.dtype) for t in ctx.data.mean_std())
    xg = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(net(xg), y)
    (grad,) = torch.autograd.grad(loss, xg)
    # ToTensor's pixel / 255 is a float32 value; held in the replay's type
    x_pix = (torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32) / 255).to(ctx.dtype)
    x_adv = torch.round(torch.clamp(x_pix + grad.sign() * eps, 0.0, 1.0) * 255) / 255
    with torch.no_grad():
        return torch.argmax(net((x_adv - mean) / std), dim=1)


def replay_bs(ctx):
    """BS (boundary_sh.py:80-109), replayed with the trace's labels; ours recomputed and
    compared."""
    _check_stages(ctx, {"forget"})
    _check_passes(ctx, "forget", "forget")
    eps = float(ctx.params.get("eps", 0.1))
    if eps != 0.1:
        ctx.notes.append(f"eps {eps}: the reference hard-codes bound = 0.1 (boundary_sh.py:69)")
    opt = ctx.sgd()
    rows = agree = flipped_ours = flipped_trace = flipped_field_bad = 0
    for line in ctx.trace:
        lr = saliency_lr(ctx.params, int(line["epoch"]))
        ctx.check_lr(line, lr)
        pixels = ctx.data.pixels(line["indices"], line.get("augment"))
        x = ctx.data.normalise(pixels).to(ctx.dtype)
        y_true = ctx.true_labels(line, check=False)
        ours = fgsm_labels(ctx, x, pixels, y_true, eps)
        traced = ctx.traced_labels(line)
        rows += len(traced)
        agree += int((ours == traced).sum())
        flipped_ours += int((ours != y_true).sum())
        ft = int((traced != y_true).sum())
        flipped_trace += ft
        if "flipped" in line and int(line["flipped"]) != ft:
            flipped_field_bad += 1
        loss = F.cross_entropy(_train_fw(ctx, x), traced)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss)
    ctx.report["bs_labels"] = {
        "rows": rows,
        "agree": agree,
        "agreement": agree / rows if rows else None,
        "flipped_ours": flipped_ours,
        "flipped_trace": flipped_trace,
        "steps_whose_flipped_field_disagrees": flipped_field_bad,
        "eps": eps,
    }


def replay_be(ctx):
    """BE (boundary_ex.py:34-67, 91-109): the head widened by the traced shadow row before
    the optimiser is built; every target = C; the shadow row is dropped at the end."""
    _check_stages(ctx, {"forget"})
    _check_passes(ctx, "forget", "forget")
    shadow = ctx.trace[0].get("shadow") if ctx.trace else None
    if shadow is None:
        raise ValueError("be trace: step 0 has no shadow row")
    name = head_name(ctx.arch)
    old = getattr(ctx.model, name)
    c = old.out_features
    new = nn.Linear(old.in_features, c + 1, bias=old.bias is not None, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight[:c] = old.weight
        new.weight[c] = torch.tensor(shadow["weight"], dtype=torch.float32).to(old.weight.dtype)
        if old.bias is not None:
            new.bias[:c] = old.bias
            new.bias[c] = float(shadow["bias"])
    setattr(ctx.model, name, new)
    opt = ctx.sgd()
    bad_targets = 0
    for line in ctx.trace:
        lr = saliency_lr(ctx.params, int(line["epoch"]))
        ctx.check_lr(line, lr)
        x = ctx.inputs(line)
        y = torch.full((x.shape[0],), c, dtype=torch.int64)  # boundary_ex.py:95-96
        if line.get("labels") is not None:
            bad_targets += int((torch.tensor(line["labels"]) != y).sum())
        loss = F.cross_entropy(_train_fw(ctx, x), y)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss)
    ctx.report["be"] = {"shadow_dim": len(shadow["weight"]), "targets_not_C": bad_targets}
    ctx.be_head = (name, c)


def replay_scrub(ctx):
    """SCRUB (notebook cell 36; loops.py:137-265): per epoch, max steps on forget batches
    (while epoch ≤ msteps, 1-based) then min steps on retain batches."""
    _check_stages(ctx, {"max", "min"})
    msteps = int(ctx.params.get("max_epochs", 0))
    order_ok = True
    for e, lines in _by_epoch(ctx.trace).items():
        stages = [l.get("stage") for l in lines]
        if "max" in stages and e >= msteps:
            order_ok = False
        if "max" in stages and "min" in stages:
            order_ok &= max(i for i, s in enumerate(stages) if s == "max") < min(
                i for i, s in enumerate(stages) if s == "min"
            )
    ctx.report["scrub_structure"] = {"max_only_while_epoch_le_msteps_and_before_min": bool(order_ok)}
    _check_passes(ctx, "max", "forget")
    _check_passes(ctx, "min", "retain")
    temp = float(ctx.params["temperature"])
    alpha = float(ctx.params["alpha"])
    gamma = float(ctx.params["gamma"])
    teacher = ctx.original
    temp_bad = 0
    opt = ctx.sgd()
    for line in ctx.trace:
        lr = scrub_lr(ctx.params, int(line["epoch"]))
        ctx.check_lr(line, lr)
        if "temperature" in line and float(line["temperature"]) != temp:
            temp_bad += 1
        x, y = ctx.inputs(line), ctx.true_labels(line)
        ctx.model.train()
        teacher.eval()
        logit_s = ctx.model(x)  # loops.py:178
        with torch.no_grad():
            logit_t = teacher(x)  # loops.py:179-182
        kl = distill_kl(logit_s, logit_t, temp)
        if line.get("stage") == "max":
            loss = -kl  # loops.py:243-244
        else:
            loss = gamma * F.cross_entropy(logit_s, y) + alpha * kl  # loops.py:241-242 (β = 0)
        ctx.check_loss(line, loss)
        _step(ctx, opt, lr, loss)
    ctx.report["scrub_temperature_mismatch_steps"] = temp_bad


REPLAYS = {
    "ft": replay_ft,
    "ga": replay_ga,
    "neggrad+": replay_neggrad,
    "rl": replay_rl,
    "bs": replay_bs,
    "be": replay_be,
    "l1": replay_l1,
    "salun": replay_salun,
    "scrub": replay_scrub,
}
