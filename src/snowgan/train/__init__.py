"""Training: one step (step.py), the run loop (loop.py), checkpoints (checkpoint.py)."""
