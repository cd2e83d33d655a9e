"""Projected GAN (Sauer et al. 2021): ``networks.py`` holds the discriminator on frozen EfficientNet-Lite0
features, ``fastgan.py`` the FastGAN-lite generator, ``family.py`` the registry entry."""
