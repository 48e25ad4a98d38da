"""Reference values for the model tests, produced with PyTorch / torchvision.

Run from the repository root:
    python3 crates/unlearn-models/tests/reference/models_reference.py
Writes, next to this script:
  - small_cnn.safetensors: a PyTorch small CNN's state_dict (seeded) plus an input batch
    `input` and its expected `features` and `logits` (eval mode);
  - batchnorm.json: nn.BatchNorm2d outputs and running statistics after two training steps
    and one eval step on fixed inputs;
  - resnet18_keys.json: torchvision resnet18 state_dict names, shapes and dtypes, for the
    ImageNet stem and the CIFAR stem (conv1 3x3, stride 1, no max-pool).
"""
import json
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).parent
torch.manual_seed(1234)


class SmallCNN(nn.Module):
    """The project's small CNN: conv32 -> pool -> conv64 -> pool -> fc128 -> fc."""

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


m = SmallCNN().eval()
x = torch.randn(4, 1, 28, 28)
with torch.no_grad():
    feats = m.features(x)
    logits = m.fc(feats)
tensors = {k: v.contiguous() for k, v in m.state_dict().items()}
tensors.update({"input": x, "features": feats, "logits": logits})
save_file(tensors, str(HERE / "small_cnn.safetensors"))

# BatchNorm2d: two training steps, then eval.
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.copy_(torch.tensor([1.5, 0.5, -1.0]))
    bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
xs = [torch.randn(4, 3, 5, 5) * 2 + 1 for _ in range(3)]
bn.train()
y1 = bn(xs[0])
y2 = bn(xs[1])
bn.eval()
y3 = bn(xs[2])
bn_out = {
    "weight": bn.weight.tolist(),
    "bias": bn.bias.tolist(),
    "inputs": [t.flatten().tolist() for t in xs],
    "train_out_1": y1.detach().flatten().tolist(),
    "train_out_2": y2.detach().flatten().tolist(),
    "eval_out": y3.detach().flatten().tolist(),
    "running_mean": bn.running_mean.tolist(),
    "running_var": bn.running_var.tolist(),
    "num_batches_tracked": int(bn.num_batches_tracked),
}
(HERE / "batchnorm.json").write_text(json.dumps(bn_out) + "\n")

import torchvision  # noqa: E402


def keys(model):
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in model.state_dict().items()}


imagenet = torchvision.models.resnet18(num_classes=10)
cifar = torchvision.models.resnet18(num_classes=10)
cifar.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
cifar.maxpool = nn.Identity()
(HERE / "resnet18_keys.json").write_text(
    json.dumps({"torchvision": torchvision.__version__, "imagenet": keys(imagenet), "cifar": keys(cifar)}, indent=1)
    + "\n"
)
print("wrote reference files to", HERE)
