#!/usr/bin/env python3
"""PyTorch side of `cargo xtask bench`: the same step as
crates/unlearn-models/examples/bench_step.rs (architecture, batch, f32, synthetic input,
SGD lr 0.01 momentum 0.9 weight decay 5e-4, cross-entropy), timed per step.

    python3 scripts/bench_torch.py --model small-cnn|resnet18-cifar --mode train|infer \
        --batch 128 [--steps 20] [--warmup 3] [--threads 2]

Prints `images_per_s <x>`: the median over the timed steps.
"""
import argparse
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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
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
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    if a.mode == "train":
        model.train()
    else:
        model.eval()
    times = []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.item()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                features(x).sum().item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    print(f"images_per_s {a.batch / times[len(times) // 2]:.1f}")


if __name__ == "__main__":
    main()
