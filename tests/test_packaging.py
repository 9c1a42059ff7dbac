"""The installed wheel holds the product only: core, crawler, monitor, storage, notifier, web.

The demo (demo/), the test portals and receivers (testsupport/) and the scoring
(evaluation/) stay in the source checkout, and aiosmtpd is a dependency of the demo and
test extras only. Built for real with pip from a copy of this checkout (so the build's
own files land in tmp_path, not beside a parallel test run)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = {"core", "crawler", "monitor", "storage", "notifier", "web"}
NOT_PRODUCT = {"demo", "testsupport", "evaluation", "tests", "benchmarks"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "*.egg-info",
        "*.db*", "demo-out"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                          str(tmp / "dist"), str(src)], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    (path,) = (tmp / "dist").glob("dxmon-*.whl")
    with zipfile.ZipFile(path) as z:
        yield z


def test_wheel_holds_only_the_product_packages(wheel):
    names = wheel.namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == PRODUCT
    assert not tops & NOT_PRODUCT
    assert not [n for n in names if "scoring" in n or "portals" in n or "receivers" in n]
    assert not [n for n in names if n.endswith(".json")], "articles.json or a corpus shipped"
    # the one data file the product needs: `dxmon init`'s starter config
    assert "monitor/starter.toml" in names
    assert "monitor/cli.py" in names and "crawler/spiders/news.py" in names
    # the web view's templates and stylesheet (package data)
    assert {"web/templates/base.html", "web/templates/search.html",
            "web/static/dxmon.css"} <= set(names)


def test_aiosmtpd_only_in_the_demo_and_test_extras(wheel):
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [line for line in wheel.read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    aiosmtpd = [line for line in requires if "aiosmtpd" in line]
    assert aiosmtpd and all("extra ==" in line for line in aiosmtpd), aiosmtpd
    assert {line.split("extra ==")[1].strip(" '\"") for line in aiosmtpd} == {"demo", "test"}
    assert any(line.startswith("Requires-Dist: scrapy") for line in requires)


def test_dxmon_demo_without_the_checkout_says_how_to_get_it(monkeypatch, capsys):
    """An installed dxmon (no checkout beside it) names `make demo`, exits 2, no trace."""
    import argparse

    from monitor import cli

    monkeypatch.setattr(cli, "_checkout_root", lambda: None)
    monkeypatch.setitem(sys.modules, "demo.story", None)  # import raises ModuleNotFoundError
    assert cli.cmd_demo(argparse.Namespace(dir="unused")) == 2
    err = capsys.readouterr().err
    assert "make demo" in err and "[demo]" in err and "Traceback" not in err


def test_dxmon_demo_without_the_extra_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    import argparse
    import importlib.util

    from monitor import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aiosmtpd" else real(name, *a))
    assert cli.cmd_demo(argparse.Namespace(dir=str(tmp_path / "demo"))) == 2
    assert "pip install -e '.[demo]'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()  # refused before anything started
