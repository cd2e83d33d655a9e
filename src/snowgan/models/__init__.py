"""Generator/discriminator families. A family is one folder, ``models/NAME/`` (its networks and its
``family.py`` entry), plus its name in ``families.BUILT_IN``; see family.py for the facts it holds."""
