#!/usr/bin/env python3
"""PyTorch checkpoint fixtures for issue #15 (loading `.pth` files without executing code).

Every file is real `torch.save` output of a small CNN with this toolkit's `small-cnn` tensor
names (conv1, conv2, fc1, fc; 1x4x4 input, 10 classes), in the layouts users bring:

  small-cnn-1x4x4.pth               a plain state_dict (zip format)
  small-cnn-salun.pth         SalUn lineage: {"state_dict": {"module.…"}, "epoch", "best_acc"},
                                    with `normalize.mean` / `normalize.std` buffers in the model
  small-cnn-1x4x4.legacy.pth        the legacy (non-zip) format of torch.save
  small-cnn-1x4x4.whole-module.pth  torch.save(model): a pickled class; must be refused
  evil.pth                          a state_dict next to an object whose unpickling calls
                                    os.system; must be refused without running anything
  expected.json                     the inputs, the logits PyTorch computes for them (with and
                                    without the SalUn normalisation), every tensor's name and shape
  kuangliu-resnet18.keys.json       names and shapes of a kuangliu-style CIFAR ResNet-18
                                    (`shortcut.*`, `linear.*`), for the name adapter

Usage: pip install torch; python3 scripts/make_pth_fixtures.py [OUT_DIR]
(default crates/unlearn-models/tests/fixtures/pth). Seeded: reruns give the same tensors.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1] if len(sys.argv) > 1 else "crates/unlearn-models/tests/fixtures/pth"


class SmallCnn(nn.Module):
    """conv(32)-relu-pool, conv(64)-relu-pool, fc1(128)-relu, fc: the toolkit's small-cnn."""

    def __init__(self, channels=1, side=4, classes=10, normalize=None):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (side // 4) * (side // 4), 128)
        self.fc = nn.Linear(128, classes)
        if normalize is not None:
            self.normalize = Normalize(*normalize)

    def forward(self, x):
        if hasattr(self, "normalize"):
            x = self.normalize(x)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(F.relu(self.fc1(x.flatten(1))))


class Normalize(nn.Module):
    """SalUn-style input normalisation kept as buffers inside the model."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x):
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)


class Evil:
    """Unpickling this runs a shell command: what a safe loader must refuse."""

    def __reduce__(self):
        return (os.system, ("echo unlearn-pth-fixture-was-executed > /tmp/unlearn-evil-ran",))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )


class KuangliuStyleResNet18(nn.Module):
    """The naming of the kuangliu CIFAR ResNet-18 (written here, not copied): layerN.B.shortcut.*, linear.*."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        widths, cin = [64, 128, 256, 512], 64
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
            cin = w
        self.linear = nn.Linear(512, classes)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = SmallCnn().eval()
    sd = model.state_dict()
    torch.save(sd, os.path.join(OUT, "small-cnn-1x4x4.pth"))
    torch.save(sd, os.path.join(OUT, "small-cnn-1x4x4.legacy.pth"), _use_new_zipfile_serialization=False)

    mean, std = [0.2860], [0.3530]
    salun = SmallCnn(normalize=(mean, std)).eval()
    salun.load_state_dict({**sd, "normalize.mean": torch.tensor(mean), "normalize.std": torch.tensor(std)})
    wrapped = {"state_dict": {"module." + k: v for k, v in salun.state_dict().items()}, "epoch": 5, "best_acc": 91.25}
    torch.save(wrapped, os.path.join(OUT, "small-cnn-salun.pth"))

    torch.save(model, os.path.join(OUT, "small-cnn-1x4x4.whole-module.pth"))
    torch.save({"state_dict": sd, "extra": Evil()}, os.path.join(OUT, "evil.pth"))

    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 4, 4, generator=g)
    with torch.no_grad():
        logits = model(x)
        logits_salun = salun(x)
    expected = {
        "inputs": {"shape": list(x.shape), "values": x.flatten().tolist()},
        "logits": {"shape": list(logits.shape), "values": logits.flatten().tolist()},
        "logits_salun_normalised": {"shape": list(logits_salun.shape), "values": logits_salun.flatten().tolist()},
        "normalize": {"mean": mean, "std": std},
        "tensors": {k: list(v.shape) for k, v in sd.items()},
        "torch": torch.__version__,
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    keys = {k: list(v.shape) for k, v in KuangliuStyleResNet18().state_dict().items()}
    with open(os.path.join(OUT, "kuangliu-resnet18.keys.json"), "w") as f:
        json.dump(keys, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):>9}  {name}")


if __name__ == "__main__":
    main()
