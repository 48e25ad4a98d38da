"""Tensor summaries for the Rust fixtures, the same function the gradient fixtures use.

`summary(name, values)` is `summary()` of
`crates/unlearn-models/tests/reference/gradient_parity.py`, imported from that file so the
generator (splitmix64 of an FNV-1a hash of "proj<k>:<name>" / "index:<name>") and the
fields (numel, norm, sum, max_abs, proj[4], at[16]) are identical by construction.
"""
import importlib.util
import pathlib

import torch

_REF = pathlib.Path(__file__).resolve().parents[2] / "crates/unlearn-models/tests/reference/gradient_parity.py"


def _load():
    threads = torch.get_num_threads()
    spec = importlib.util.spec_from_file_location("_gradient_parity_reference", _REF)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # sets torch to 1 thread; undone below
    torch.set_num_threads(threads)
    return mod


_mod = _load()
summary = _mod.summary
uniform = _mod.uniform
indices = _mod.indices
