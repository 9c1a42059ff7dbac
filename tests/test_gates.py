"""The gates that read ../shared (the extraction F1 gate, the seed tests, the seeds'
syllable regression) FAIL under ``CI=true`` when their data is missing: a skipped gate
would let CI pass without checking anything. On a developer's machine they skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport.shared import require_shared

ROOT = Path(__file__).resolve().parent.parent

GATES = [
    "tests/test_extraction.py::test_scrapinghub_f1_at_least_095",
    "tests/test_detection.py::test_seed_documents",
    "tests/test_detection.py::test_dxmon_detect_command_on_a_seed",
    "tests/test_text_properties.py::test_every_syllable_of_the_seeds",
]


def test_missing_data_fails_in_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="in CI this gate must run"):
        require_shared(tmp_path / "absent", "the seeds")


@pytest.mark.parametrize("ci", [None, "false", "1"])
def test_missing_data_skips_outside_ci(tmp_path, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception):
        require_shared(tmp_path / "absent", "the seeds")


def test_present_data_is_returned_in_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require_shared(tmp_path, "the seeds") == tmp_path


def _run_gates(shared: Path, ci: str | None) -> tuple[int, dict[str, int], str]:
    """Run the gates in a fresh pytest; the exit code, the summary counts and the report."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["DXMON_SHARED"] = str(shared)
    if ci is not None:
        env["CI"] = ci
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-o", "addopts=", "-rfs", *GATES], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=240)
    report = out.stdout + out.stderr
    summary = report.strip().splitlines()[-1]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (failed|errors?|skipped|passed)", summary)}
    return out.returncode, counts, report


def test_the_real_gates_fail_in_ci_without_shared(tmp_path):
    """The gates themselves, run as CI runs them with ../shared pointing nowhere: every
    one fails (5 seed documents + the detect command + the F1 gate + the syllables)."""
    code, counts, report = _run_gates(tmp_path / "no-shared", "true")
    assert code == 1, report[-3000:]
    # a fixture that fails (the seeds) is reported as an error, the others as failures
    assert counts.get("failed", 0) + counts.get("errors", counts.get("error", 0)) == 8, report
    assert "skipped" not in counts and "passed" not in counts, report[-3000:]
    assert report.count("in CI this gate must run") >= 8, report[-3000:]


def test_the_real_gates_skip_outside_ci_without_shared(tmp_path):
    """Its negative: on a developer's machine the same missing data is a visible skip."""
    code, counts, report = _run_gates(tmp_path / "no-shared", None)
    assert code == 0 and counts == {"skipped": 8}, report[-3000:]
