"""Expected values for the optimiser and schedule tests, produced with PyTorch.

Run from the repository root:
    python3 crates/unlearn-train/tests/reference/optim_reference.py
It rewrites crates/unlearn-train/tests/reference/optim_expected.json.

Each case starts from the same parameter vector and applies a fixed sequence of gradients
(set directly as .grad), so the Rust test can reproduce the gradients exactly with the loss
sum(p * g).
"""
import json
import math
import pathlib

import torch

torch.set_default_dtype(torch.float32)
P0 = [0.5, -1.25, 2.0, 0.0, -0.3, 1.7]
GRADS = [
    [0.1, -0.2, 0.3, -0.4, 0.5, -0.6],
    [1.5, 0.25, -0.75, 2.0, -1.0, 0.05],
    [-0.3, 0.9, 0.1, -0.2, 0.0, 0.4],
    [0.7, -0.7, 0.7, -0.7, 0.7, -0.7],
    [2.5, 1.0, -3.0, 0.5, 0.25, -1.5],
]


def run(make_opt, clip=None):
    p = torch.nn.Parameter(torch.tensor(P0))
    opt = make_opt([p])
    out = []
    for g in GRADS:
        opt.zero_grad()
        p.grad = torch.tensor(g)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p], clip)
        opt.step()
        out.append(p.detach().tolist())
    return out


cases = {
    "sgd_plain": run(lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd_momentum_wd": run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=5e-4)),
    "sgd_nesterov": run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "sgd_dampening": run(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.1)),
    "adamw": run(lambda ps: torch.optim.AdamW(ps, lr=0.01)),
    "adamw_wd": run(lambda ps: torch.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "sgd_clip": run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), clip=1.0),
}


def lrs(make_sched, epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    s = make_sched(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return out


schedules = {
    "multistep": lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 6], gamma=0.1), 8),
    "cosine": lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.001), 8),
    # warm-up stepped per batch: 2 epochs x 3 steps, LinearLR from 0.1, then constant
    "warmup": lrs(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=6), 8),
}

out = {
    "torch_version": torch.__version__,
    "p0": P0,
    "grads": GRADS,
    "cases": cases,
    "schedules": schedules,
}
path = pathlib.Path(__file__).with_name("optim_expected.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
