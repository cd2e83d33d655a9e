"""R3GAN (Huang et al. 2024): ``networks.py`` holds G and D (``grouped_conv.py`` their grouped 3x3),
``schedule.py`` the paper's cosine schedules, ``family.py`` the registry entry."""
