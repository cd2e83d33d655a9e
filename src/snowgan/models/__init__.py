"""Generator/discriminator families. A new family is one file plus one entry in registry.py."""
