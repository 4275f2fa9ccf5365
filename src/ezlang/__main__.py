"""``python -m ezlang`` — same as the ``ezlang`` command."""

from ezlang.cli import main

raise SystemExit(main())
