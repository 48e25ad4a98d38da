"""Reference gradients for `tests/gradient_parity.rs`, computed with PyTorch.

Run from the repository root (needs torch, torchvision, transformers, numpy):
    python3 crates/unlearn-models/tests/reference/gradient_parity.py
Writes `gradient_parity.json` next to this script.

For every architecture the toolkit offers, an independent PyTorch build of the same net
(the small CNN written out below; torchvision's `resnet18` with the ImageNet stem and with
the CIFAR stem, a 3x3 stride-1 conv1 and no max-pool; Hugging Face `transformers`'
`ViTForImageClassification` for vit-tiny and vit-b16) is given the same weights and one
batch, in training mode (BatchNorm uses batch statistics and updates its running ones;
the ViT classifies the final layer norm of the class token, as HF and timm do). The mean
cross-entropy is back-propagated and, for every parameter, its gradient is summarised.
The reference runs in float64 on the same (f32-exact) values; the same pass in float32
gives, per parameter, PyTorch's own f32 error against it (`torch_f32_error`), from which
the Rust test sets its tolerance.

Same weights without committing them: every tensor, the input batch included, is filled
from a counter-based generator both sides implement (splitmix64 of an FNV-1a hash of the
tensor's name plus the element index; the top 24 bits give u in [-1, 1)), scaled by a
per-tensor rule below; the f64 product is rounded to f32 once, so both sides hold the same
bits. Labels are (7i + 3) mod classes.

The summary of a gradient g (flattened, in f64): its L2 norm, sum and max |g|; four
projections <g, r_k> on generator vectors r_k (named "proj<k>:<tensor>"), which catch an
error anywhere in the tensor; and g at 16 generator-chosen indices. The Rust test compares
each within the tolerances it states.
"""
import json
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import transformers

HERE = pathlib.Path(__file__).parent
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

MASK64 = (1 << 64) - 1


def fnv1a(name: str) -> int:
    h = 0xCBF29CE484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def splitmix(z: np.ndarray) -> np.ndarray:
    """splitmix64's output function on uint64 states (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(name: str, n: int) -> np.ndarray:
    """u_i in [-1, 1) for i < n, f64, exactly representable."""
    key = np.uint64(fnv1a(name))
    with np.errstate(over="ignore"):
        z = key + np.arange(n, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
    top = (splitmix(z) >> np.uint64(40)).astype(np.float64)
    return top / float(1 << 24) * 2.0 - 1.0


def indices(name: str, n: int, count: int) -> list:
    key = np.uint64(fnv1a("index:" + name))
    with np.errstate(over="ignore"):
        z = key + np.arange(count, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
    return [int(v % np.uint64(n)) for v in splitmix(z)]


def fill_rule(name: str, shape) -> tuple:
    """(scale, offset): value = offset + scale * u."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return 0.25, 1.0
    if leaf == "running_mean":
        return 0.1, 0.0
    norm = any(k in name for k in ("bn", "downsample.1", "layernorm"))
    if norm and leaf == "weight":
        return 0.1, 1.0
    if leaf == "bias" or norm:
        return 0.1, 0.0
    if "cls_token" in name or "position_embeddings" in name:
        return 0.5, 0.0
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return 1.0 / np.sqrt(fan_in), 0.0


def filled(name: str, shape) -> torch.Tensor:
    n = int(np.prod(shape)) if len(shape) else 1
    scale, offset = fill_rule(name, shape)
    values = (offset + scale * uniform(name, n)).astype(np.float32)
    return torch.from_numpy(values.reshape(shape))


class SmallCnn(nn.Module):
    """The toolkit's small CNN: conv 3x3 (32) -> ReLU -> max-pool 2 -> conv 3x3 (64) ->
    ReLU -> max-pool 2 -> fc 128 -> ReLU -> fc."""

    def __init__(self, channels, side, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * (side // 4) ** 2, 128)
        self.fc = nn.Linear(128, classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = F.max_pool2d(self.relu(self.conv1(x)), 2)
        x = F.max_pool2d(self.relu(self.conv2(x)), 2)
        return self.fc(self.relu(self.fc1(x.flatten(1))))


def resnet18(channels, classes, cifar_stem):
    net = torchvision.models.resnet18(num_classes=classes)
    if cifar_stem:
        net.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif channels != 3:
        net.conv1 = nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False)
    return net


class HfVit(nn.Module):
    def __init__(self, channels, side, classes, hidden, layers, heads, inter, patch):
        super().__init__()
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
        self.inner = transformers.ViTForImageClassification(cfg)

    def forward(self, x):
        return self.inner(pixel_values=x).logits

    def named_state(self):
        return self.inner.state_dict()


CASES = [
    # name, arch, input shape [C, H, W], classes, batch
    ("small-cnn", "small-cnn", [1, 28, 28], 10, 4),
    ("resnet18-cifar", "resnet18-cifar", [3, 16, 16], 10, 4),
    ("resnet18", "resnet18", [3, 64, 64], 10, 4),
    ("vit-tiny", "vit-tiny", [1, 28, 28], 10, 4),
    ("vit-b16", "vit-b16", [3, 32, 32], 10, 2),
]


def build(arch, shape, classes):
    c, h, _ = shape
    if arch == "small-cnn":
        return SmallCnn(c, h, classes)
    if arch in ("resnet18", "resnet18-cifar"):
        return resnet18(c, classes, arch == "resnet18-cifar")
    if arch == "vit-tiny":
        return HfVit(c, h, classes, 192, 6, 3, 768, 4)
    if arch == "vit-b16":
        return HfVit(c, h, classes, 768, 12, 12, 3072, 16)
    raise ValueError(arch)


# transformers 5 renamed ViT's modules; checkpoints on the Hub (and the toolkit) keep the
# classic names (`encoder.layer.N.attention.attention.query`, ...).
CLASSIC = [
    (".attention.q_proj.", ".attention.attention.query."),
    (".attention.k_proj.", ".attention.attention.key."),
    (".attention.v_proj.", ".attention.attention.value."),
    (".attention.o_proj.", ".attention.output.dense."),
    (".mlp.fc1.", ".intermediate.dense."),
    (".mlp.fc2.", ".output.dense."),
]


def classic(name: str) -> str:
    if name.startswith("vit.layers."):
        name = "vit.encoder.layer." + name[len("vit.layers."):]
        for new, old in CLASSIC:
            name = name.replace(new, old)
    return name


def state_of(net):
    """The state dict under the toolkit's (the Hub's classic) names."""
    if isinstance(net, HfVit):
        return {classic(k): v for k, v in net.named_state().items()}
    return net.state_dict()


def parameters_of(net):
    if isinstance(net, HfVit):
        return {classic(k[len("inner."):]): p for k, p in net.named_parameters()}
    return dict(net.named_parameters())


def summary(name, g: np.ndarray) -> dict:
    g = g.astype(np.float64).ravel()
    out = {
        "numel": int(g.size),
        "norm": float(np.sqrt((g * g).sum())),
        "sum": float(g.sum()),
        "max_abs": float(np.abs(g).max()),
        "proj": [float((g * uniform(f"proj{k}:{name}", g.size)).sum()) for k in range(4)],
    }
    idx = indices(name, g.size, 16)
    out["at"] = [[i, float(g[i])] for i in idx]
    return out


# A ReLU input within f32 rounding of 0 may take the other branch in another f32
# implementation, and one such element changes every gradient below it (measured: one input
# at 1.0e-6 in layer3.1 of resnet18-cifar moved the gradients of the layers below by up to
# 1.7e-3 relative). The input batch is therefore chosen (by the suffix of its generator
# name) so that no ReLU input of the float64 pass lies within this margin of 0.
RELU_MARGIN = 3e-6


def relu_margin(arch, shape, classes, batch, input_name):
    """The smallest |ReLU input| of the float64 training-mode pass on `input_name`."""
    net = build(arch, shape, classes).double()
    with torch.no_grad():
        for name, t in state_of(net).items():
            if t.dtype.is_floating_point:
                t.copy_(filled(name, list(t.shape)).double())
    net.train()
    smallest = [float("inf")]

    def hook(_module, inputs):
        smallest[0] = min(smallest[0], inputs[0].detach().abs().min().item())

    for module in net.modules():
        if isinstance(module, nn.ReLU):
            module.register_forward_pre_hook(hook)
    with torch.no_grad():
        net(filled(input_name, [batch] + shape).double())
    return smallest[0]


def input_name_for(arch, shape, classes, batch):
    for k in range(200):
        name = "input" if k == 0 else f"input{k}"
        if relu_margin(arch, shape, classes, batch, name) >= RELU_MARGIN:
            return name
    raise RuntimeError(f"{arch}: no input batch with a ReLU margin of {RELU_MARGIN}")


def one_pass(arch, shape, classes, batch, dtype, input_name):
    """Loss, logits, gradients and buffers of one training-mode pass in `dtype`."""
    net = build(arch, shape, classes).to(dtype)
    state = state_of(net)
    with torch.no_grad():
        for name, t in state.items():
            if t.dtype.is_floating_point:
                t.copy_(filled(name, list(t.shape)).to(dtype))
    net.train()
    x = filled(input_name, [batch] + shape).to(dtype)
    y = torch.tensor([(7 * i + 3) % classes for i in range(batch)])
    logits = net(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    params = parameters_of(net)
    grads = {n: params[n].grad.detach().double().numpy() for n in state if n in params}
    buffers = {
        n: t.detach().double().numpy()
        for n, t in state_of(net).items()
        if n.endswith("running_mean") or n.endswith("running_var")
    }
    return loss.item(), logits.detach().double().numpy(), grads, buffers


def relative_error(name, g, ref):
    """The Rust test's error measure of `g` against `ref` (norm, projections, entries)."""
    norm = max(np.sqrt((ref * ref).sum()), 1e-30)
    errs = [abs(np.sqrt((g * g).sum()) - np.sqrt((ref * ref).sum())) / norm]
    for k in range(4):
        r = uniform(f"proj{k}:{name}", g.size)
        errs.append(abs(((g - ref).ravel() * r).sum()) / (norm * np.sqrt((r * r).sum())))
    return float(max(errs))


def run_case(label, arch, shape, classes, batch):
    # The reference is float64 (the toolkit's f32 bits, computed exactly enough); the same
    # pass in float32 measures PyTorch's own f32 error, which sets the Rust tolerance.
    input_name = input_name_for(arch, shape, classes, batch)
    loss, logits, grads, buffers = one_pass(arch, shape, classes, batch, torch.float64, input_name)
    _, _, grads32, _ = one_pass(arch, shape, classes, batch, torch.float32, input_name)
    out_grads = {}
    for name, g in grads.items():
        out_grads[name] = summary(name, g)
        out_grads[name]["torch_f32_error"] = relative_error(name, grads32[name], g)
    out_buffers = {name: summary(name, b) for name, b in buffers.items()}
    worst = max(v["torch_f32_error"] for v in out_grads.values())
    print(
        f"{label}: loss {loss:.6f}, {len(out_grads)} parameters, {len(out_buffers)} buffers, "
        f"PyTorch f32 worst relative gradient error {worst:.2e}, input {input_name}"
    )
    return {
        "arch": arch,
        "input_shape": shape,
        "classes": classes,
        "batch": batch,
        "input": input_name,
        "loss": float(loss),
        "logits": logits.tolist(),
        "gradients": out_grads,
        "buffers_after": out_buffers,
    }


def main():
    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "transformers": transformers.__version__,
        "cases": {label: run_case(label, *rest) for (label, *rest) in CASES},
    }
    (HERE / "gradient_parity.json").write_text(json.dumps(out, indent=None) + "\n")


if __name__ == "__main__":
    main()
