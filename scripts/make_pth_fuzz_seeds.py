#!/usr/bin/env python3
"""Seeds of the `pth` fuzz target (tests/fuzz-corpus/pth): small real torch.save files.

  state-dict.pth        a plain state dict (zip format): float, half and int64 tensors, a
                        transposed (Fortran-order) weight, a BatchNorm counter
  wrapped.pth           {"state_dict": {"module." + k: v}, "epoch": 3} (SalUn lineage)
  state-dict.legacy.pth the same state dict in the legacy (pre-1.6) format
  kuangliu.pth          {"net": {...shortcut.../linear...}, "acc": 91.0, "epoch": 7}

Usage: pip install torch; python3 scripts/make_pth_fuzz_seeds.py [OUT_DIR]
(default tests/fuzz-corpus/pth). Seeded; the legacy file's storage keys are memory
addresses, so its bytes differ between runs.
"""
import os
import sys

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz-corpus/pth"


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    sd = {
        "conv1.weight": torch.randn(2, 1, 3, 3),
        "bn1.weight": torch.rand(2),
        "bn1.running_var": torch.rand(2) + 0.5,
        "bn1.num_batches_tracked": torch.tensor(3),
        "fc.weight": torch.randn(3, 2).t(),
        "fc.bias": torch.randn(2).half(),
    }
    torch.save(sd, os.path.join(OUT, "state-dict.pth"))
    torch.save(sd, os.path.join(OUT, "state-dict.legacy.pth"), _use_new_zipfile_serialization=False)
    wrapped = {"state_dict": {"module." + k: v for k, v in sd.items()}, "epoch": 3}
    torch.save(wrapped, os.path.join(OUT, "wrapped.pth"))
    net = {
        "module.layer2.0.shortcut.0.weight": torch.randn(2, 1, 1, 1),
        "module.layer2.0.shortcut.1.running_mean": torch.zeros(2),
        "module.linear.weight": torch.randn(2, 2),
    }
    torch.save({"net": net, "acc": 91.0, "epoch": 7}, os.path.join(OUT, "kuangliu.pth"))


if __name__ == "__main__":
    main()
