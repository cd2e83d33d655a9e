"""The registry entry of --arch dcgan (models/family.py lists what each field means)."""

from ..family import Family

FAMILY = Family(
    name="dcgan",
    title="DCGAN",
    summary="convolutional G and D (transposed convolutions up, strided convolutions down); the "
            "SnowGAN write-up's family and the seed recipes'",
    build="snowgan.models.dcgan.networks:build",
    conditional=True,
)
