"""DCGAN (Radford et al. 2016): ``networks.py`` holds G and D, ``family.py`` the registry entry."""
