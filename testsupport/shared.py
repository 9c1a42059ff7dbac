"""The data a gate reads from ``../shared`` (seeds, public benchmarks): found, or the test
skips on a developer's machine and FAILS in CI (``CI=true``), where a missing gate must
never pass quietly as a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evaluation import benchmarks_root, shared_root

__all__ = ["require_shared", "shared_root", "benchmarks_root"]


def require_shared(path: Path, what: str) -> Path:
    """``path`` if it exists; otherwise fail under ``CI=true``, skip elsewhere."""
    if path.exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not at {path}: in CI this gate must run", pytrace=False)
    pytest.skip(f"{what} is not at {path} (set DXMON_SHARED; in CI this fails)")
