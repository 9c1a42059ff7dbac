"""The near-duplicate candidate index keeps its cost to a week's volume (issue 16):
buckets keyed by week, looked up in a three-week window, BUCKET_CAP (10) articles a bucket at most.
Each promise is attacked: copies on either side of the window, copies stored before
their original (a backfill), buckets full of boilerplate, edits that move an article's
date, and an archive migrated from the old key layout."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import Extracted
from storage.articles import store_article
from storage.neardup import BUCKET_CAP, band_keys, cluster_members, epoch_of
from storage.schema import open_db

DAY0 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # a Wednesday
SYLLABLES = ("một hai ba bốn năm sáu bảy tám chín mười tỉnh huyện xã phường ủy ban nhân dân "
             "hội đồng quốc gia chuyển đổi số phiên họp thứ chính phủ bộ trưởng chủ tịch phó "
             "thông tin truyền thông kinh tế xã hội dữ liệu nền tảng công dân doanh nghiệp "
             "hạ tầng mạng lưới cáp quang trạm phát sóng trường học bệnh viện nông thôn mới "
             "giao thông vận tải đường bộ cầu cảng sân bay du lịch văn hóa thể thao giáo dục "
             "đào tạo khoa học công nghệ môi trường tài nguyên nước rừng biển đảo an ninh").split()


def words(seed: int, n: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(SYLLABLES) for _ in range(n))


def story(seed: int) -> str:
    """A story of its own: 240 syllables in six sentences."""
    return ". ".join(words(seed * 100 + k, 40) for k in range(6)) + "."


def copy_of(text: str) -> str:
    """Another outlet's copy: its own header and footer, the lead reworded."""
    sentences = text.split(". ")
    sentences[0] = "Theo tin từ cổng thông tin tỉnh, " + sentences[0]
    return "Báo Tin tức – " + ". ".join(sentences) + " Nguồn: TTXVN."


def put(db, url: str, text: str, *, published: datetime | None = None,
        seen: datetime = DAY0) -> int:
    return store_article(db, "s", Extracted(url=url, canonical_url=url, title=url, text=text,
                                            published_at=published), now=seen).article_id


def same_story(db, a: int, b: int) -> bool:
    return b in {m["id"] for m in cluster_members(db, a)}


def test_copies_within_a_week_cluster_and_copies_weeks_later_do_not(tmp_path):
    db = open_db(tmp_path / "a.db")
    original = put(db, "http://127.0.0.1/o", story(1), published=DAY0)
    near = put(db, "http://127.0.0.1/c6", copy_of(story(1)), published=DAY0 + timedelta(days=6),
               seen=DAY0 + timedelta(days=6, hours=2))
    late = put(db, "http://127.0.0.1/c20", copy_of(story(1)) + " Cập nhật.",
               published=DAY0 + timedelta(days=20), seen=DAY0 + timedelta(days=20, hours=1))
    other = put(db, "http://127.0.0.1/x", story(2), published=DAY0 + timedelta(days=1),
                seen=DAY0 + timedelta(days=1))
    assert same_story(db, original, near)
    assert not same_story(db, original, late)  # by design: outside the window
    assert not same_story(db, original, other)


def test_a_backfill_clusters_by_publication_whatever_the_crawl_order(tmp_path):
    """Crawled months later, newest first: the copy is stored before its original, and
    both are found by when they were published, not when they were crawled."""
    db = open_db(tmp_path / "a.db")
    crawl = DAY0 + timedelta(days=200)
    copy = put(db, "http://127.0.0.1/c", copy_of(story(3)), published=DAY0 + timedelta(days=5),
               seen=crawl)
    unrelated = put(db, "http://127.0.0.1/u", story(4), published=DAY0 + timedelta(days=5),
                    seen=crawl)
    original = put(db, "http://127.0.0.1/o", story(3), published=DAY0,
                   seen=crawl + timedelta(days=30))  # crawled a month after its copy
    assert same_story(db, original, copy)
    assert not same_story(db, original, unrelated)


def test_a_wrong_future_date_does_not_move_an_article_out_of_reach(tmp_path):
    db = open_db(tmp_path / "a.db")
    original = put(db, "http://127.0.0.1/o", story(5), published=DAY0)
    wrong = put(db, "http://127.0.0.1/c", copy_of(story(5)),
                published=DAY0 + timedelta(days=400), seen=DAY0 + timedelta(hours=3))
    assert same_story(db, original, wrong)
    assert epoch_of("2027-04-08T00:00:00+00:00", "2026-03-04T11:00:00+00:00") == \
        epoch_of(None, "2026-03-04T11:00:00+00:00")
    # the date is the UTC date of the instant: 23:30 at UTC-5 is the next day in UTC
    assert epoch_of("2026-03-08T23:30:00-05:00", "2026-03-10T00:00:00+00:00") == \
        epoch_of("2026-03-09T04:30:00+00:00", "2026-03-10T00:00:00+00:00")


def test_full_buckets_of_boilerplate_do_not_hide_a_copy(tmp_path):
    """300 stories that share half their text (a portal's boilerplate) fill the buckets
    of that half to the cap before the original arrives, so its rows there are not
    stored; its copy still finds it through the buckets of its own half, and a story
    sharing only the boilerplate is not taken for a copy."""
    db = open_db(tmp_path / "a.db")
    boiler = story(7)
    fillers = [put(db, f"http://127.0.0.1/f{i}", boiler + " " + story(1000 + i),
                   seen=DAY0 + timedelta(minutes=i)) for i in range(300)]
    sizes = [n for (n,) in db.execute("SELECT COUNT(*) FROM minhash_bands GROUP BY key")]
    assert max(sizes) == BUCKET_CAP  # the attack filled buckets to the cap
    original = put(db, "http://127.0.0.1/o", boiler + " " + story(8),
                   seen=DAY0 + timedelta(days=1))
    kept = db.execute("SELECT COUNT(*) FROM minhash_bands WHERE article_id = ?",
                      [original]).fetchone()[0]
    assert kept < 32  # some of its buckets were full
    copy = put(db, "http://127.0.0.1/c", copy_of(boiler + " " + story(8)),
               seen=DAY0 + timedelta(days=1, hours=1))
    assert same_story(db, original, copy)
    assert not any(same_story(db, original, f) for f in fillers[:50] + fillers[-50:])
    sizes = [n for (n,) in db.execute("SELECT COUNT(*) FROM minhash_bands GROUP BY key")]
    assert max(sizes) == BUCKET_CAP


def _expected_keys(db, article_id: int) -> set[int]:
    blob, published, first_seen = db.execute(
        "SELECT minhash, published_at, first_seen FROM articles WHERE id = ?",
        [article_id]).fetchone()
    return set(band_keys(np.frombuffer(blob, dtype=np.uint32), epoch_of(published, first_seen)))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3),
                          st.one_of(st.none(), st.integers(-40, 40)), st.integers(0, 10)),
                min_size=1, max_size=14))
def test_an_articles_buckets_follow_its_text_and_date_through_edits(tmp_path_factory, steps):
    """Whatever edits change (text, publication date, or both, across weeks), an
    article's rows in minhash_bands are exactly the keys of its stored MinHash and date:
    none left behind in the week it moved out of, none missing."""
    db = open_db(tmp_path_factory.mktemp("p") / "a.db")
    seen = DAY0
    for url, variant, published, hours in steps:
        seen += timedelta(hours=hours)
        text = story(20 + variant) if variant < 3 else copy_of(story(20))
        put(db, f"http://127.0.0.1/{url}", text, seen=seen,
            published=None if published is None else DAY0 + timedelta(days=published))
    for (article_id,) in db.execute("SELECT id FROM articles").fetchall():
        stored = {k for (k,) in db.execute(
            "SELECT key FROM minhash_bands WHERE article_id = ?", [article_id])}
        assert stored == _expected_keys(db, article_id)


def test_migration_0013_rebands_an_old_archive_so_new_copies_find_old_stories(tmp_path):
    """An archive in 0012's layout (bucket keys without weeks, written the old way) is
    migrated: every article's rows are its keys in today's layout, and a copy stored
    afterwards joins its original's cluster."""
    from storage.schema import migrate, transaction

    path = tmp_path / "old.db"
    db = open_db(path)
    originals = [put(db, f"http://127.0.0.1/o{i}", story(40 + i),
                     published=DAY0 - timedelta(days=i)) for i in range(5)]
    with transaction(db):  # back to 0012: old-layout keys (band in the top bits, no week)
        db.execute("DELETE FROM minhash_bands")
        for (article_id, blob) in db.execute("SELECT id, minhash FROM articles").fetchall():
            values = np.frombuffer(blob, dtype=np.uint32)
            for band in range(32):
                db.execute("INSERT INTO minhash_bands (key, article_id) VALUES (?, ?)",
                           [(band << 58) | int(values[band * 4]), article_id])
        db.execute("DELETE FROM _migrations WHERE name = '0013_band_weeks'")
    db.close()
    db = open_db(path)  # migrates
    assert migrate(db) == []
    for article_id in originals:
        stored = {k for (k,) in db.execute(
            "SELECT key FROM minhash_bands WHERE article_id = ?", [article_id])}
        assert stored == _expected_keys(db, article_id)
    copy = put(db, "http://127.0.0.1/c", copy_of(story(42)), published=DAY0,
               seen=DAY0 + timedelta(days=1))
    assert same_story(db, originals[2], copy)
    assert not any(same_story(db, o, copy) for o in originals if o != originals[2])


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2070, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(-30 * 24 * 60, 30 * 24 * 60))
def test_the_window_holds_every_date_within_7_days_and_none_beyond_13(moment, minutes):
    """What README "Database" promises of the window, over any two publication dates:
    the weeks of two dates 7 days apart or less are the same or adjacent (looked up),
    those of dates more than 13 days apart never are."""
    other = moment + timedelta(minutes=minutes)
    seen = max(moment, other) + timedelta(days=1)  # (both dates are before first_seen)
    a = epoch_of(moment.isoformat(), seen.isoformat())
    b = epoch_of(other.isoformat(), seen.isoformat())
    apart = abs(moment.date() - other.date())  # the date of each, in UTC
    if apart <= timedelta(days=7):
        assert abs(a - b) <= 1
    if apart > timedelta(days=13):
        assert abs(a - b) >= 2
