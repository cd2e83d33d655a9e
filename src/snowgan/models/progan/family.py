"""The registry entry of --arch progan (models/family.py lists what each field means)."""

from ..family import Family

FAMILY = Family(
    name="progan",
    title="ProGAN",
    summary="progressive growing: G and D start at --pg_start px and fade in each doubling up to the "
            "image size (the Bob Ross recipe's)",
    build="snowgan.models.progan.networks:build",
    options=("pg_start", "pg_fade_kimg", "pg_stable_kimg", "pg_batch"),
    # Its growing G and D would need the class embedding re-wired at every stage.
    conditional=False,
    grows=True,
)
