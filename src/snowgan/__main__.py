"""`python -m snowgan` is the same as the `snowgan` command."""

from .cli import main

raise SystemExit(main())
