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

and ResNet-18s (3x32x32 input, 10 classes), gzipped (-9) because each state dict is ~45 MB;
every float tensor tiles one seeded block of 1021 values (see fill_tiled), so each .gz is
~0.43 MB:

  resnet18_cifar10_full.pth.gz         comparator layout: torchvision names, CIFAR stem,
  resnet18_cifar10_no_3.pth.gz         plain state_dict (two seeds)
  resnet18_cifar10_full.legacy.pth.gz  the first, in the legacy (non-zip) format
  resnet18_kuangliu_cifar10.pth.gz     kuangliu names, {"net": {"module."…}, "acc", "epoch"}
  resnet18_imagenet_stem_cifar10.pth.gz  NeurIPS 2023 challenge layout: ImageNet stem, fc 512->10
  resnet18_salun_cifar10.pth.gz        SalUn: normalize.mean/std buffers used in forward,
                                       {"state_dict": {"module."…}, "epoch", "best_acc"}
  resnet18-expected.json               two seeded uint8 images, each file's logits, its
                                       normalisation, its tensor names and shapes

Usage: pip install torch; python3 scripts/make_pth_fixtures.py [OUT_DIR]
(default crates/unlearn-models/tests/fixtures/pth). Seeded: reruns give the same tensors (the
legacy files' storage keys are object addresses, so those bytes differ between runs).
"""
import gzip
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

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


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

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


class TvBlock(nn.Module):
    """A ResNet basic block with torchvision's names: conv1, bn1, conv2, bn2, downsample.{0,1}."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class TvResNet18(nn.Module):
    """ResNet-18 with torchvision's tensor names. `cifar_stem`: conv1 3x3 stride 1 and no
    max-pool (maxpool = Identity); otherwise the ImageNet stem (7x7 stride 2, 3x3 max-pool).
    `normalize`: SalUn-style (mean, std) buffers applied first inside forward."""

    def __init__(self, classes=10, cifar_stem=True, normalize=None):
        super().__init__()
        if normalize is not None:
            self.normalize = Normalize(*normalize)
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, w in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(TvBlock(cin, w, stride), TvBlock(w, w, 1)))
            cin = w
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        if hasattr(self, "normalize"):
            x = self.normalize(x)
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


TILE = 1021  # a prime: every float tensor repeats one seeded block of this many values


@torch.no_grad()
def fill_tiled(model, seed):
    """Fills every float tensor of `model` by tiling a seeded random block of TILE values, so
    45 MB of weights gzip to a few hundred KB. Scales follow PyTorch's initialisation (He
    uniform for convolutions, 1/sqrt(fan_in) for the linear layer) so activations stay sane;
    BatchNorm running_var is positive (0.5..1.5), running_mean, weight and bias random."""
    g = torch.Generator().manual_seed(seed)

    def tile(t, lo, hi):
        block = lo + (hi - lo) * torch.rand(TILE, generator=g)
        reps = (t.numel() + TILE - 1) // TILE
        t.copy_(block.repeat(reps)[: t.numel()].view_as(t))

    for _, m in sorted(model.named_modules(), key=lambda nm: nm[0]):
        if isinstance(m, nn.Conv2d):
            bound = (6.0 / m.weight[0].numel()) ** 0.5
            tile(m.weight, -bound, bound)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / m.weight.shape[1] ** 0.5
            tile(m.weight, -bound, bound)
            tile(m.bias, -bound, bound)
        elif isinstance(m, nn.BatchNorm2d):
            tile(m.weight, 0.5, 1.5)
            tile(m.bias, -0.2, 0.2)
            tile(m.running_mean, -0.2, 0.2)
            tile(m.running_var, 0.5, 1.5)
            m.num_batches_tracked.fill_(1000)
    return model.eval()


def save_gz(obj, out_dir, name, legacy=False):
    """torch.save(obj) to `name` (so the archive's root folder is the name's stem, as for a
    user's file), then gzip -9 it to `name`.gz and remove the uncompressed file."""
    path = os.path.join(out_dir, name)
    if legacy:
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(obj, path)
    with open(path, "rb") as f, open(path + ".gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as gz:
            gz.write(f.read())
    os.remove(path)


CIFAR_COMPARATOR = ([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010])
CIFAR_SALUN = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])


def make_resnets(out_dir):
    """The ResNet-18 fixtures (gzipped) and resnet18-expected.json: PyTorch's logits for two
    seeded uint8 3x32x32 images, computed as model(((x/255) - mean[c]) / std[c]) (the SalUn
    model: model(x/255), its buffers normalise), with every file's tensor names and shapes."""
    g = torch.Generator().manual_seed(15)
    pixels = torch.randint(0, 256, (2, 3, 32, 32), generator=g, dtype=torch.uint8)
    x01 = pixels.float() / 255

    def norm(mean, std):
        return (x01 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    def record(file, model, arch, layout, saved, normalization, inputs, **extra):
        with torch.no_grad():
            logits = model(inputs)
        return file, {
            "arch": arch,
            "layout": layout,
            "normalization": {"mean": normalization[0], "std": normalization[1]},
            "logits": {"shape": list(logits.shape), "values": logits.flatten().tolist()},
            "tensors": {k: list(v.shape) for k, v in saved.items()},
            **extra,
        }

    models = []
    for name, seed in [("resnet18_cifar10_full.pth", 101), ("resnet18_cifar10_no_3.pth", 102)]:
        m = fill_tiled(TvResNet18(cifar_stem=True), seed)
        sd = m.state_dict()
        save_gz(sd, out_dir, name)
        models.append(record(name + ".gz", m, "resnet18-cifar", "comparator: torchvision names, CIFAR stem, plain state_dict", sd, CIFAR_COMPARATOR, norm(*CIFAR_COMPARATOR)))
        if seed == 101:
            legacy = name.replace(".pth", ".legacy.pth")
            save_gz(sd, out_dir, legacy, legacy=True)
            models.append(record(legacy + ".gz", m, "resnet18-cifar", "legacy (non-zip) torch.save of resnet18_cifar10_full", sd, CIFAR_COMPARATOR, norm(*CIFAR_COMPARATOR)))

    m = fill_tiled(KuangliuStyleResNet18(), 103)
    net = {"module." + k: v for k, v in m.state_dict().items()}
    name = "resnet18_kuangliu_cifar10.pth"
    save_gz({"net": net, "acc": 95.31, "epoch": 199}, out_dir, name)
    models.append(record(name + ".gz", m, "resnet18-cifar", "kuangliu: {net: module.* state_dict, acc, epoch}, shortcut.*/linear.* names", net, CIFAR_COMPARATOR, norm(*CIFAR_COMPARATOR)))

    m = fill_tiled(TvResNet18(cifar_stem=False), 104)
    sd = m.state_dict()
    name = "resnet18_imagenet_stem_cifar10.pth"
    save_gz(sd, out_dir, name)
    models.append(record(name + ".gz", m, "resnet18", "NeurIPS 2023 challenge: torchvision ImageNet-stem ResNet-18, fc 512->10, plain state_dict", sd, CIFAR_SALUN, norm(*CIFAR_SALUN)))

    m = fill_tiled(TvResNet18(cifar_stem=True, normalize=CIFAR_SALUN), 105)
    m.normalize.mean.copy_(torch.tensor(CIFAR_SALUN[0]))
    m.normalize.std.copy_(torch.tensor(CIFAR_SALUN[1]))
    sd = {"module." + k: v for k, v in m.state_dict().items()}
    name = "resnet18_salun_cifar10.pth"
    save_gz({"state_dict": sd, "epoch": 182, "best_acc": 94.87}, out_dir, name)
    models.append(record(name + ".gz", m, "resnet18-cifar", "SalUn: {state_dict: module.* with normalize.mean/std buffers, epoch, best_acc}", sd, CIFAR_SALUN, x01, normalized_inside=True))

    expected = {
        "inputs": {"dtype": "uint8", "shape": list(pixels.shape), "values": pixels.flatten().tolist()},
        "models": dict(models),
        "tile": TILE,
        "torch": torch.__version__,
    }
    with open(os.path.join(out_dir, "resnet18-expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


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
    make_resnets(OUT)
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):>9}  {name}")


if __name__ == "__main__":
    main()
