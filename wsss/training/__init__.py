"""Training loops with per-epoch checkpoints and resume."""
