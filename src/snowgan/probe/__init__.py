"""Reuse a trained discriminator for the user's own labels: `--mode probe` and `--mode predict`.

    labels.py    labels.csv, matching rows to images, classes vs numbers, the split
    images.py    the images: built-in (unseen by the GAN) or a folder, at the model's size
    backbone.py  D from a model folder or run, pooled block features, a random-init twin
    head.py      the linear head: fit, fine-tune, scores, save/load

The two commands (--mode probe, --mode predict) are commands/probe.py.
"""
