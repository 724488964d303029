"""``python -m cievents.cli``: the ``cievents`` command."""

from cievents.cli import main

raise SystemExit(main())
