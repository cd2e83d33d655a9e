"""The registry entry of --arch projected (models/family.py lists what each field means)."""

from ..family import Family

FAMILY = Family(
    name="projected",
    title="Projected GAN",
    summary="a FastGAN generator against a discriminator on frozen pretrained EfficientNet-Lite0 "
            "features; the --data default, the fastest to good images on your photos",
    build="snowgan.models.projected.networks:build",
    options=("backbone_size", "per_logit_loss"),
    conditional=True,
    # The projected D reads a frozen pretrained network and runs ahead of G; 2:1 won at equal
    # time on two datasets (docs/lab/projected-log.md, "Two G steps per D step").
    g_steps_per_d_step=2,
    # Its heads are spectrally normalised convolutions *and* BatchNorm, as in the paper.
    spectral_norm_is_d_norm=False,
)
