"""The toolkit's architectures in PyTorch, with the toolkit's tensor names.

A checkpoint written by the toolkit is plain safetensors whose tensor names are PyTorch
`state_dict` names (`crates/unlearn-models/src/checkpoint.rs`); its `__metadata__` says
which architecture, how many classes and which input shape (`arch`, `num_classes`,
`input_shape` = "[C,H,W]"). `load_model` builds the net and loads every tensor with
`load_state_dict(strict=True)`, so a missing or extra name, or a wrong shape, is an error.

Architectures (`crates/unlearn-models/src/arch.rs`):
  small-cnn       conv1 3x3 pad 1 (32) -> ReLU -> max-pool 2 -> conv2 3x3 pad 1 (64) -> ReLU
                  -> max-pool 2 -> flatten -> fc1 (128) -> ReLU -> fc (classes)
  resnet18-cifar  torchvision resnet18, conv1 3x3 stride 1 pad 1 without bias, no max-pool
  resnet18        torchvision resnet18, conv1 7x7 stride 2 pad 3 taking the input's channels
  vit-tiny        HF ViTForImageClassification: patch 4, width 192, depth 6, 3 heads, MLP 768
  vit-b16         HF ViTForImageClassification: patch 16, width 768, depth 12, 12 heads, MLP 3072
The ViT configuration is the one `crates/unlearn-models/tests/reference/gradient_parity.py`
checks the toolkit's gradients against (eager attention, no dropout, LN eps 1e-12).
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

ARCHS = ("small-cnn", "resnet18-cifar", "resnet18", "vit-tiny", "vit-b16")

# (hidden, layers, heads, intermediate, patch)
VIT_SHAPES = {
    "vit-tiny": (192, 6, 3, 768, 4),
    "vit-b16": (768, 12, 12, 3072, 16),
}


class SmallCnn(nn.Module):
    def __init__(self, channels: int, side: int, classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (side // 4) ** 2, 128)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(F.relu(self.fc1(x.flatten(1))))


def _resnet18(channels: int, classes: int, cifar_stem: bool) -> nn.Module:
    import torchvision

    net = torchvision.models.resnet18(num_classes=classes)
    if cifar_stem:
        net.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    else:
        net.conv1 = nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False)
    return net


def _vit(arch: str, channels: int, side: int, classes: int) -> nn.Module:
    import transformers

    class Vit(transformers.ViTForImageClassification):
        """HF's model with its own state-dict names; `forward(x)` returns the logits."""

        def forward(self, x):  # noqa: D401 - a plain tensor in, logits out
            return super().forward(pixel_values=x).logits

    hidden, layers, heads, inter, patch = VIT_SHAPES[arch]
    cfg = transformers.ViTConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=inter,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        layer_norm_eps=1e-12,
        image_size=side,
        patch_size=patch,
        num_channels=channels,
        qkv_bias=True,
        num_labels=classes,
    )
    cfg._attn_implementation = "eager"
    return Vit(cfg)


def build(arch: str, input_shape, classes: int) -> nn.Module:
    """An untrained net of `arch` for inputs `[C, H, W]` and `classes` outputs."""
    c, h, w = (int(v) for v in input_shape)
    if arch == "small-cnn":
        if h != w:
            # The toolkit's fc1 width is 64·(H/4)·(W/4); only square inputs occur.
            raise ValueError(f"small-cnn input {h}x{w}: only square inputs are supported")
        return SmallCnn(c, h, classes)
    if arch in ("resnet18", "resnet18-cifar"):
        return _resnet18(c, classes, arch == "resnet18-cifar")
    if arch in VIT_SHAPES:
        return _vit(arch, c, h, classes)
    raise ValueError(f"unknown architecture '{arch}' (known: {', '.join(ARCHS)})")


def head_name(arch: str) -> str:
    """The module holding the class rows (`Arch::head_prefix` on the Rust side)."""
    return "classifier" if arch.startswith("vit") else "fc"


def read_metadata(path) -> dict:
    with safe_open(str(path), "np") as f:
        return dict(f.metadata() or {})


def checkpoint_spec(path) -> dict:
    """arch, num_classes and input_shape of a toolkit checkpoint, from its metadata."""
    meta = read_metadata(path)
    for key in ("arch", "num_classes", "input_shape"):
        if key not in meta:
            raise ValueError(f"{path}: metadata has no '{key}' (not a toolkit checkpoint?)")
    return {
        "arch": meta["arch"],
        "num_classes": int(meta["num_classes"]),
        "input_shape": [int(v) for v in json.loads(meta["input_shape"])],
        "meta": meta,
    }


def read_state(path) -> dict:
    """The tensors of a safetensors file (metadata ignored), floats as float32."""
    state = load_file(str(path))
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def load_model(path):
    """(model, spec): the checkpoint's net with every tensor loaded by name, strictly."""
    spec = checkpoint_spec(path)
    net = build(spec["arch"], spec["input_shape"], spec["num_classes"])
    state = read_state(path)
    own = net.state_dict()
    for k, v in state.items():
        # num_batches_tracked is int64 on both sides; keep each tensor's own dtype.
        if k in own and own[k].dtype != v.dtype:
            state[k] = v.to(own[k].dtype)
    net.load_state_dict(state, strict=True)
    return net.float(), spec
