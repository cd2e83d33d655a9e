"""snowgan: train GANs on your own small image collection."""

__version__ = "0.1.0"
