"""``python -m vhdxray``: the same entry point as the ``vhdxray`` console script."""

from vhdxray.tui.cli import run

raise SystemExit(run())
