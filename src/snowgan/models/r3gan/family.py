"""The registry entry of --arch r3gan (models/family.py lists what each field means)."""

from ..family import Family

FAMILY = Family(
    name="r3gan",
    title="R3GAN",
    summary="a modern residual GAN with no normalisation layers, trained with the relativistic "
            "pairing loss plus R1 and R2 (--loss rpgan)",
    build="snowgan.models.r3gan.networks:build",
    options=("blocks_per_stage",),
    conditional=True,
    schedule="snowgan.models.r3gan.schedule:R3GANSchedule",
    norm_layers=False,
)
