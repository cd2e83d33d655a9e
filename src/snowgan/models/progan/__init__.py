"""Progressive GAN (Karras et al. 2018): ``networks.py`` holds G and D, which grow from ``--pg_start``
px (models/growing.py computes the stage); ``family.py`` is the registry entry."""
