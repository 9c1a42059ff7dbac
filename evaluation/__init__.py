"""Evaluation of dxmon against labelled data: not part of the product, never installed.

:mod:`evaluation.extraction` scores the extractor on the public benchmarks in
``../shared/benchmarks``; :mod:`evaluation.detection` scores detection on the labelled
corpus in ``tests/corpus``. The test gates (``tests/``) and the figures
(``benchmarks/``) both import them from here, so a gate and its figure measure alike.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_root(repo_root: Path | None = None) -> Path:
    """The shared folder beside the repository (seeds, benchmarks), or ``$DXMON_SHARED``."""
    if os.environ.get("DXMON_SHARED"):
        return Path(os.environ["DXMON_SHARED"])
    return (repo_root or ROOT).parent / "shared"


def benchmarks_root(repo_root: Path | None = None) -> Path:
    """``$DXMON_SHARED/benchmarks`` or ``<repo root>/../shared/benchmarks`` (may be absent)."""
    return shared_root(repo_root) / "benchmarks"
