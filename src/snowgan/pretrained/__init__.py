"""Frozen pretrained networks that snowgan uses but never trains (optional extra ``snowgan[pretrained]``).

``efficientnet_lite.py``: EfficientNet-Lite0 and its multi-scale features (the projected
discriminator's backbone; also a perceptual feature space). ``weights.py``: finding the
weights inside an installed model-zoo package, hashing and strict loading.
Nothing here imports torchvision or timm.
"""
