"""The `dxmon` command line (being written)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("dxmon: not yet", file=sys.stderr)
    return 1
