"""Frozen pretrained networks that snowgan uses but never trains (optional extra ``snowgan[pretrained]``).

``efficientnet_lite.py``: EfficientNet-Lite0 and its multi-scale features (the projected
discriminator's backbone; also a perceptual feature space). ``sources.py``: where each
weights file lives and finding it inside an installed model-zoo package (torch-free, so the
command line can ask). ``weights.py``: hashing and strict loading.
Nothing here imports torchvision or timm.
"""
