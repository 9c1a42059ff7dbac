"""The search index's merging happens after a crawl, not inside its commits (issue 16):
FTS5's automerge is off (migration 0014) and :func:`monitor.cycle.after_crawl` merges
what automerge would have. On a real SQLite file, and through a real crawl.

What a user would check: every article is still found, in the same order, after the
merge; an archive nobody merges for a long time still has a bounded index (FTS5's
crisis merge); and a crawl leaves the index merged, whether its after-crawl step runs
in the crawl process or in ``dxmon crawl``.
"""

from __future__ import annotations

import json

import pytest

from core.models import Extracted
from storage.articles import search_articles, store_article
from storage.maintenance import merge_search_index
from storage.schema import open_db, transaction
from testsupport.crawl import Crawl, portals  # noqa: F401 - the fixture

PLACES = ["Hà Giang", "Thanh Hóa", "Nghệ An", "Quảng Trị", "Đắk Lắk", "Cà Mau", "Lào Cai",
          "Bắc Ninh", "Hải Dương", "Sơn La", "Điện Biên", "Lạng Sơn"]


def story(n: int) -> Extracted:
    place = PLACES[n % len(PLACES)]
    url = f"http://127.0.0.1/dia-phuong/ban-tin-{n}.htm"
    text = (f"Sáng nay, tỉnh {place} tổ chức hội nghị bàn về chuyển đổi số trong cải cách "
            f"hành chính, lần thứ {n}. Đại biểu đề nghị số hóa hồ sơ đất đai trước quý "
            f"{n % 4 + 1} và công khai kết quả giải quyết thủ tục trên cổng thông tin. "
            f"Mã bản tin {n:05d}-{place.lower().replace(' ', '')}.")
    return Extracted(url=url, canonical_url=url, title=f"{place}: hội nghị chuyển đổi số {n}",
                     text=text)


def segments(db) -> int:
    """The FTS5 index's segments (each has its first leaf in the ``_idx`` table)."""
    return db.execute("SELECT COUNT(DISTINCT segid) FROM articles_search_idx").fetchone()[0]


def store_each(db, first: int, n: int) -> None:
    """``n`` stories, each in its own commit (a crawl storing one article at a time)."""
    for i in range(first, first + n):
        with transaction(db):
            store_article(db, "baotinh", story(i))


QUERIES = ["chuyen doi so", "Hà Giang", "dat dai", "thanh hoa", "cai cach hanh chinh",
           "00007", "quý 3"]


def results(db) -> dict[str, list[int]]:
    return {q: [r["id"] for r in search_articles(db, q, limit=50)] for q in QUERIES}


def test_a_commit_writes_its_segment_and_the_merge_after_the_crawl_finds_the_same(tmp_path):
    db = open_db(tmp_path / "a.db")
    store_each(db, 0, 12)
    # each commit wrote its own segment, and none merged them (automerge would have
    # left fewer than 4 on a level)
    assert segments(db) == 12
    before = results(db)
    assert len(before["chuyen doi so"]) == 12 and before["00007"] != []
    steps = merge_search_index(db, full=False)
    assert steps >= 2 and segments(db) < 4  # a level of 4 or more segments is merged
    assert results(db) == before  # the same articles, in the same order
    db.execute("INSERT INTO articles_search(articles_search) VALUES ('integrity-check')")
    # nothing left to do: one step that finds so
    assert merge_search_index(db, full=False) == 1


def test_an_archive_nobody_merges_keeps_a_bounded_index(tmp_path):
    """The attack: crawls whose after-crawl step never runs (DXMON_PROCESS_AFTER_CRAWL
    off, or killed every time). FTS5's crisis merge (16 segments on a level) still runs
    in the commit that reaches it, so the index never holds hundreds of segments."""
    db = open_db(tmp_path / "a.db")
    store_each(db, 0, 70)
    assert segments(db) < 20
    found = results(db)
    assert len(found["chuyen doi so"]) == 50  # the limit: all 70 match
    assert len(search_articles(db, "chuyen doi so", limit=100)) == 70


@pytest.mark.parametrize("how", ["scrapy crawl news", "dxmon crawl", "no after-crawl"])
def test_a_crawl_leaves_the_search_index_merged(portals, tmp_path, how):  # noqa: F811
    """An archive holding 12 unmerged segments, then a real crawl of the test portals:
    its after-crawl step (in the crawl process, or in ``dxmon crawl``) leaves the index
    merged and every article found; a crawl without that step merges nothing, not even
    in its own commits."""
    crawl = Crawl(portals, tmp_path)
    source = crawl.config.sources[0].name
    db = open_db(crawl.db_path)
    for i in range(12):
        with transaction(db):
            store_article(db, source, story(i))
    assert segments(db) == 12
    db.close()
    if how == "scrapy crawl news":
        crawl.scrapy(process=True)
    elif how == "dxmon crawl":
        report = json.loads(crawl.dxmon("crawl", "--json").stdout)
        # it ran (how much it found depends on how the crawl's commits fell: a level
        # that reached 16 in them was merged there, by FTS5's crisis merge)
        assert report["ok"] and report["search_merge_steps"] >= 1, report
    else:
        crawl.scrapy("-s", "DXMON_STORE_BATCH=1")
    db = crawl.db()
    stored = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    assert stored > 12 + 8  # the crawl stored the portals' articles
    # what is left to merge: nothing once the after-crawl step ran (one step that finds
    # no level of 4 segments or more); without it, the commits merged nothing but
    # FTS5's crisis merge (16 on a level), and there is
    steps = merge_search_index(db, full=False)
    if how == "no after-crawl":
        assert steps >= 2, "the store path merged: automerge is not off"
    else:
        assert steps == 1
    assert len(search_articles(db, "chuyen doi so", limit=100)) >= 12
    db.close()


def test_a_long_crawl_merges_the_index_as_it_goes(portals, tmp_path):  # noqa: F811
    """A crawl storing more than ``DXMON_MERGE_EVERY`` articles (a backfill) merges the
    index between its batches, without waiting for its end (its after-crawl step is off
    here): the crawl's commits stay small, and no level waits for FTS5's crisis merge."""
    import re

    crawl = Crawl(portals, tmp_path)
    result = crawl.scrapy("-s", "DXMON_STORE_BATCH=1", "-s", "DXMON_MERGE_EVERY=4")
    db = crawl.db()
    stored = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    merges = re.search(r"'dxmon/search_index_merges': (\d+)", result.stderr)
    assert merges and int(merges.group(1)) >= stored // 4 - 1, (stored, merges)
    # the last merge left fewer than 4 segments on each level, and fewer than 4 came
    # since: nothing to merge
    assert merge_search_index(db, full=False) == 1
    db.execute("INSERT INTO articles_search(articles_search) VALUES ('integrity-check')")
    db.close()
