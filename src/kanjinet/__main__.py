"""`python -m kanjinet` = the `kanjinet` command."""

from kanjinet.cli import main

raise SystemExit(main())
