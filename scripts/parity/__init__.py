"""Independent PyTorch replays of the toolkit's unlearning methods.

The Rust methods write a step trace (`unlearn forget --trace T.jsonl`): for every optimiser
step, the rows of the batch, their augmentation, the targets and the learning rate. The
replays here take only the randomness from that trace (batch membership and order, crops
and flips, RL/SalUn's random targets, BE's shadow row, SalUn's mask) and recompute
everything else the way the authors' reference loops do, then compare the weights they end
at with the Rust run's output.

Modules: `models` (the toolkit's architectures in PyTorch, loaded by tensor name), `data`
(the data export and the batch of a trace line), `methods` (one replay per method),
`replay` (`replay()` and `compare()`), `summary` (the fixture summaries shared with
`crates/unlearn-models/tests/reference/gradient_parity.py`).
"""
