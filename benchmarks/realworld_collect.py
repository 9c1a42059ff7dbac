"""Build the local folder of real public material that benchmarks/realworld.py scores.

The material is other people's text: it is read from local git mirrors of public
repositories and written OUTSIDE the repository (never commit it). Issue 11 §4.

    python benchmarks/realworld_collect.py OUT_DIR [--mirrors /work/.mirror] [--pages-only]

Sources (each a bare git repository under MIRRORS, read with ``git cat-file``):

- ``meth04+tracking_news-mcp``: ``tests/fixtures/*_article.html`` and ``*_list.html``,
  real article and section pages of Vietnamese outlets (baochinhphu, tuoitre,
  vnexpress, dantri, ...) → ``OUT/pages/``.
- ``magizbox+scraper``: every blob ever committed under ``vn_news/`` (``data/``,
  ``repository/``, ``sample/``): plain-text articles crawled in 2017, title on the
  first line, one per article id → ``OUT/texts.jsonl`` (one ``{"id", "text", "before"}`` a line; ``before``
  is the date of the newest commit, an upper bound of publication).
- ``hotrung1234+news-aggregator`` and its fork ``mnngoisaoxanh+tintuchangngay`` (when
  mirrored): every version, over the whole git history, of the RSS day files
  ``data/news/*.json`` → ``OUT/rss.jsonl``, one distinct item (by id, else link) a line: ``{"id", "title", "summary", "link", "source", "published"}``.

Held-out pages (``OUT/pages-heldout/``, with ``MANIFEST.json`` giving each file's
expected kind, taken from its source's own naming, never from reading it):

- ``flairNLP+fundus``: ``tests/resources/parser/test_data/vn/*.html.gz``, article
  pages of VnExpress (fundus' parser tests) → ``fundus_<name>_article.html``.
- ``dungvn3000+myfeed``: every Vietnamese page ever committed under
  ``linkerz_parser/src/test/resources/`` (2012-2013; deleted since, so read from
  the history): ``<site>N.html`` are article pages (the repository's parser tests
  read them as articles) → ``myfeed_<site>N_article.html``; ``<site>.homepage.html``
  (and the misspelt ``hompage``) are front pages → ``myfeed_<site>_list.html``. The
  English pages there (bbc, cnn, dzone, eclipse, scala) and ``empty.html`` are left
  out.

Blobs a mirror lists but does not hold (large files may be absent) are counted and
skipped. ``OUT/MANIFEST.json`` records where everything came from and the counts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = "meth04+tracking_news-mcp"
VN_NEWS = "magizbox+scraper"
# The second is a fork of the first, run on its own schedule: its snapshots catch items
# the first one's missed. Items are deduplicated across both (by id, else link).
RSS = ("hotrung1234+news-aggregator", "mnngoisaoxanh+tintuchangngay")


def git_dir(mirrors: Path, name: str) -> Path:
    """The git directory of a mirror (``repo/`` itself, or ``repo/.git``)."""
    repo = mirrors / name / "repo"
    return repo / ".git" if (repo / ".git").is_dir() else repo


def git(gd: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={gd}", *args], check=True,
                          capture_output=True, text=True).stdout


def blobs(gd: Path, shas: list[str]):
    """(sha, bytes or None when the mirror lacks the object), via one ``cat-file --batch``."""
    proc = subprocess.Popen(["git", f"--git-dir={gd}", "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # Feed the requests from a thread-free loop: one request, one answer, so the pipes
    # never fill (answers are read before the next request is written).
    assert proc.stdin and proc.stdout
    for sha in shas:
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            yield sha, None
            continue
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after the object
        yield sha, data
    proc.stdin.close()
    proc.wait()


def objects_under(gd: Path, prefix: str) -> list[tuple[str, str]]:
    """(blob sha, path) of every blob ever committed under ``prefix`` (all history)."""
    out = []
    for line in git(gd, "rev-list", "--objects", "--all", "--missing=allow-any", "--",
                    prefix).splitlines():
        sha, _, path = line.partition(" ")
        if path.startswith(prefix + "/") and "." in path.rsplit("/", 1)[-1]:
            out.append((sha, path))
    return out


def collect_pages(mirrors: Path, out: Path) -> dict:
    gd = git_dir(mirrors, FIXTURES)
    head = git(gd, "rev-parse", "HEAD").strip()
    dest = out / "pages"
    dest.mkdir(parents=True, exist_ok=True)
    names = [p for p in git(gd, "ls-tree", "-r", "--name-only", "HEAD", "--",
                            "tests/fixtures").split()
             if p.endswith(".html")]
    for path in names:
        data = subprocess.run(["git", f"--git-dir={gd}", "show", f"HEAD:{path}"],
                              check=True, capture_output=True).stdout
        (dest / Path(path).name).write_bytes(data)
    return {"repo": "meth04/tracking_news-mcp", "commit": head, "files": len(names)}


FUNDUS = "flairNLP+fundus"
FUNDUS_VN = "tests/resources/parser/test_data/vn"
MYFEED = "dungvn3000+myfeed"
MYFEED_PAGES = "linkerz_parser/src/test/resources"
# the pages of myfeed that are not of Vietnamese outlets
MYFEED_FOREIGN = ("bbc", "cnn", "dzone", "eclipse", "scala", "empty")


def collect_heldout(mirrors: Path, out: Path) -> dict:
    """Pages scored as held-out (not looked at while page_kind's rule was decided)."""
    dest = out / "pages-heldout"
    dest.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    stats = {}
    if (mirrors / FUNDUS).is_dir():
        gd = git_dir(mirrors, FUNDUS)
        head = git(gd, "rev-parse", "HEAD").strip()
        names = [p for p in git(gd, "ls-tree", "-r", "--name-only", "HEAD", "--",
                                FUNDUS_VN).split() if p.endswith(".html.gz")]
        for path in names:
            data = subprocess.run(["git", f"--git-dir={gd}", "show", f"HEAD:{path}"],
                                  check=True, capture_output=True).stdout
            name = f"fundus_{Path(path).name.removesuffix('.html.gz')}_article.html"
            (dest / name).write_bytes(gzip.decompress(data))
            manifest[name] = {"kind": "article", "repo": "flairNLP/fundus", "path": path,
                              "commit": head}
        stats["flairNLP/fundus"] = {"commit": head, "files": len(names)}
    if (mirrors / MYFEED).is_dir():
        gd = git_dir(mirrors, MYFEED)
        objs = {}
        for sha, path in objects_under(gd, MYFEED_PAGES):
            stem = Path(path).name.removesuffix(".html")
            if path.endswith(".html") and not stem.startswith(MYFEED_FOREIGN):
                objs[path] = sha  # one version each
        kept = missing = 0
        for (sha, data), path in zip(blobs(gd, list(objs.values())), objs, strict=True):
            if data is None:
                missing += 1
                continue
            stem = Path(path).name.removesuffix(".html")
            site, _, kind = stem.partition(".")
            name = (f"myfeed_{site}_list.html" if kind in ("homepage", "hompage")
                    else f"myfeed_{stem}_article.html")
            (dest / name).write_bytes(data)
            manifest[name] = {"kind": "listing" if kind else "article",
                              "repo": "dungvn3000/myfeed", "path": path, "blob": sha}
            kept += 1
        stats["dungvn3000/myfeed"] = {"files": kept, "missing": missing}
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    return stats


def collect_texts(mirrors: Path, out: Path) -> dict:
    gd = git_dir(mirrors, VN_NEWS)
    newest = git(gd, "log", "-1", "--format=%cs", "--all", "--", "vn_news").strip()
    objs = [(s, p) for s, p in objects_under(gd, "vn_news") if p.endswith(".txt")]
    # The same article (same numeric id) sits in data/, repository/ and sample/, with
    # different line breaks: keep one per id, the data/ copy (it keeps the lead line).
    objs.sort(key=lambda o: (Path(o[1]).stem, not o[1].startswith("vn_news/data/")))
    seen: set[str] = set()
    kept = missing = 0
    with (out / "texts.jsonl").open("w", encoding="utf-8") as f:
        for (_sha, data), (_, path) in zip(blobs(gd, [s for s, _ in objs]), objs, strict=True):
            if data is None:
                missing += 1
                continue
            text = data.decode("utf-8", "replace").strip()
            if not text or Path(path).stem in seen:
                continue
            seen.add(Path(path).stem)
            f.write(json.dumps({"id": Path(path).stem, "path": path, "text": text,
                                "before": newest}, ensure_ascii=False) + "\n")
            kept += 1
    return {"repo": "magizbox/scraper", "blobs": len(objs), "missing": missing,
            "distinct_articles": kept, "newest_commit": newest}


def collect_rss(mirrors: Path, out: Path) -> list[dict]:
    seen: set[str] = set()
    stats = []
    with (out / "rss.jsonl").open("w", encoding="utf-8") as f:
        for name in RSS:
            if not (mirrors / name).is_dir():
                continue
            stats.append(_collect_rss_repo(git_dir(mirrors, name), name, seen, f))
    return stats


def _collect_rss_repo(gd: Path, name: str, seen: set[str], f) -> dict:
    objs = [(s, p) for s, p in objects_under(gd, "data/news") if p.endswith(".json")]
    commits = int(git(gd, "rev-list", "--all", "--count", "--", "data/news").strip())
    kept = missing = bad = 0
    for _sha, data in blobs(gd, [s for s, _ in objs]):
        if data is None:
            missing += 1
            continue
        try:
            items = json.loads(data)
        except ValueError:
            bad += 1
            continue
        for it in items if isinstance(items, list) else []:
            key = it.get("id") or it.get("link")
            if not key or key in seen:
                continue
            seen.add(key)
            keys = ("id", "title", "summary", "link", "source", "published")
            f.write(json.dumps({k: it.get(k) for k in keys}, ensure_ascii=False) + "\n")
            kept += 1
    return {"repo": name.replace("+", "/", 1), "commits": commits,
            "day_file_versions": len(objs), "missing": missing, "unparsable": bad,
            "new_distinct_items": kept}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--pages-only", action="store_true",
                    help="only the pages (dev and held-out), not the texts and RSS items")
    args = ap.parse_args(argv)
    if args.out.resolve().is_relative_to(Path(__file__).resolve().parent.parent):
        ap.error("OUT_DIR must be outside the repository: the material is not ours to commit")
    manifest = {}
    if args.pages_only:  # the texts and RSS items already there are kept
        for sub in ("pages", "pages-heldout"):
            shutil.rmtree(args.out / sub, ignore_errors=True)
        if (args.out / "MANIFEST.json").exists():
            manifest = json.loads((args.out / "MANIFEST.json").read_text())
    elif args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest["pages"] = collect_pages(args.mirrors, args.out)
    print("pages", manifest["pages"], flush=True)
    manifest["pages_heldout"] = collect_heldout(args.mirrors, args.out)
    print("held-out pages", manifest["pages_heldout"], flush=True)
    if args.pages_only:
        (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
        return 0
    manifest["texts"] = collect_texts(args.mirrors, args.out)
    print("texts", manifest["texts"], flush=True)
    manifest["rss"] = collect_rss(args.mirrors, args.out)
    print("rss", manifest["rss"], flush=True)
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
