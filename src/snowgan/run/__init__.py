"""A run folder's life outside the algorithm: its checkpoints (checkpoint.py, nested.py), the lock
that keeps two trainers out of one run (lock.py), and loading a trained run (load.py).

Training writes through it; every command that uses a trained model (generate, interpolate,
the studio, project, export, evaluate, probe) reads through it and never imports train/.
"""
