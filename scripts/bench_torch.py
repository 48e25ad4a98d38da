#!/usr/bin/env python3
"""PyTorch side of `cargo xtask bench`: the same step as
crates/unlearn-models/examples/bench_step.rs (architecture, batch, f32, synthetic input,
SGD lr 0.01 momentum 0.9 weight decay 5e-4, cross-entropy), timed per step.

    python3 scripts/bench_torch.py --model small-cnn|resnet18-cifar --mode train|infer \
        --batch 128 [--steps 20] [--warmup 3] [--threads 2] \
        [--device cpu|cuda] [--compile] [--channels-last] [--bf16] [--tf32 default|on|off] \
        [--max-seconds S]

Prints `images_per_s <x>`: the median over the timed steps.

GPU options (issue 7): `--device cuda` runs on the GPU and synchronises it at the end of
each step, before the clock is read. `--compile` wraps the model in `torch.compile` (its
compilation happens in the warm-up steps; the time it took goes to stderr).
`--channels-last` puts model and input in NHWC. `--bf16` runs forward and loss under
`torch.autocast(bfloat16)` (weights, gradients and the SGD step stay f32). `--tf32`:
`default` leaves PyTorch's defaults (on CUDA: TF32 for cuDNN convolutions, strict FP32 for
matmuls), `off` makes both strict FP32 (the same arithmetic as candle's default), `on`
allows TF32 for both. `--max-seconds S` stops after the timed step that brings their total
past S seconds. The configuration goes to stderr; stdout has only the result line.
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    """crates/unlearn-models/tests/reference/models_reference.py, SmallCNN."""

    def __init__(self, in_ch=1, side=28, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (side // 4) * (side // 4), 128)
        self.fc = nn.Linear(128, classes)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x):
        return self.fc(self.features(x))


def resnet18_cifar(classes=10):
    import torchvision

    m = torchvision.models.resnet18(num_classes=classes)
    m.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="small-cnn")
    ap.add_argument("--mode", default="train")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--tf32", choices=["default", "on", "off"], default="default")
    ap.add_argument("--max-seconds", type=float, default=0.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch.cuda.is_available() is False")
    if a.tf32 != "default":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
    if cuda:
        torch.backends.cudnn.benchmark = True
    if a.model == "small-cnn":
        model, shape = SmallCNN(), (1, 28, 28)
        features = model.features
    elif a.model in ("resnet18-cifar", "resnet18"):
        model, shape = resnet18_cifar(), (3, 32, 32)

        def features(x, m=model):
            return torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(
                m.relu(m.bn1(m.conv1(x)))))))), 1)
    else:
        raise SystemExit(f"unknown model {a.model}")
    x = torch.randn(a.batch, *shape)
    y = torch.arange(a.batch) % 10
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(dev, memory_format=fmt)
    x, y = x.to(dev).contiguous(memory_format=fmt), y.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    if a.mode == "train":
        model.train()
    else:
        model.eval()
    step_model = model
    if a.compile:
        step_model = torch.compile(model)
        features = torch.compile(features)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16)
    print(
        f"bench_torch: torch {torch.__version__} device {dev}"
        + (f" ({torch.cuda.get_device_name(dev)})" if cuda else "")
        + f" compile {a.compile} channels_last {a.channels_last} bf16 {a.bf16}"
        + f" tf32 matmul {torch.backends.cuda.matmul.allow_tf32}"
        + f" cudnn {torch.backends.cudnn.allow_tf32}",
        file=sys.stderr,
    )
    times = []
    t0 = time.perf_counter()
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            with amp:
                loss = F.cross_entropy(step_model(x), y)
            loss.item()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), amp:
                features(x).sum().item()
        if cuda:
            torch.cuda.synchronize(dev)
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
            if a.max_seconds > 0 and sum(times) >= a.max_seconds:
                break
        elif i == a.warmup - 1:
            print(f"bench_torch: warm-up {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    times.sort()
    print(f"images_per_s {a.batch / times[len(times) // 2]:.1f}")


if __name__ == "__main__":
    main()
