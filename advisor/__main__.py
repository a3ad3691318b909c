"""``python -m advisor`` = the ``advisor`` command."""

from advisor.cli import main

raise SystemExit(main())
