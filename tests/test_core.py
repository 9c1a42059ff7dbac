"""Text normalisation and config validation: the boundary every value crosses."""

import unicodedata

import pytest

from core.config import load_config, parse_duration
from core.errors import ConfigError
from core.text import fold, normalize


@pytest.mark.parametrize("variant, canonical", [
    ("Uỷ ban Quốc gia", "Ủy ban Quốc gia"),
    ("hoà bình", "hòa bình"),
    ("Khánh Hoà", "Khánh Hòa"),
    ("khoẻ mạnh", "khỏe mạnh"),
    ("thuỷ lợi", "thủy lợi"),
    ("quý I", "quý I"),          # "qu" is a consonant: the tone stays on y
    ("hoàng hôn", "hoàng hôn"),  # a final consonant: both styles agree
    ("quyết định", "quyết định"),
])
def test_tone_marks_have_one_placement(variant, canonical):
    assert normalize(variant) == canonical
    assert normalize(unicodedata.normalize("NFD", variant)) == canonical


def test_spaces_dashes_and_invisible_characters_are_unified():
    assert normalize("Khánh Hòa - Xuân Trường") == "Khánh Hòa – Xuân Trường"
    assert normalize("Đình Hà — Xuân Trường") == "Đình Hà – Xuân Trường"
    assert normalize("giai đoạn 2021–2025") == "giai đoạn 2021-2025"
    assert normalize("a\u00a0\u00a0b\u200b c\r\n\r\n\n  d  ") == "a b c\nd"


def test_the_fast_path_agrees_with_the_full_round_trip():
    """normalize_line skips NFD/NFC and the space rules for lines that need none, and
    fold deletes combining marks with one translate: on random mixes of the characters
    those rules care about both must agree with the plain character-by-character way."""
    import random

    from core import text as T

    def slow(line):
        line = unicodedata.normalize("NFD", T._INVISIBLE.sub("", line).strip())
        line = unicodedata.normalize("NFC", T._NEW_STYLE_TONE.sub(T._move_tone, line))
        line = T._SPACED_DASH.sub(" – ", T._JOINED_DASH.sub("-", T._SPACES.sub(" ", line)))
        return line.strip()

    def slow_fold(text):
        text = unicodedata.normalize("NFD", T._INVISIBLE.sub("", text))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        return T._SPACES.sub(" ", text.replace("đ", "d").replace("Đ", "D").lower()).strip()

    alphabet = list("oOuUyYaAeEqQhngđĐ -–—\t\u00a0\u200b\u0300\u0309\u20d7ỦủòÒ") + \
        list(T._TONED_AEY)
    rng = random.Random(7)
    for _ in range(20000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        assert T.normalize_line(line) == slow(line), repr(line)
        assert T.fold(line) == slow_fold(line), repr(line)


def test_fold_drops_diacritics_and_keeps_positions():
    text = normalize("Ủy ban Quốc gia về chuyển đổi số")
    assert fold(text) == "uy ban quoc gia ve chuyen doi so"
    assert len(fold(text)) == len(text)


def write(tmp_path, body):
    path = tmp_path / "dxmon.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """
[storage]
path = "archive.db"

[monitor]
fresh_days = 5

[[sources]]
name = "thanhhoa-tv"
start_urls = ["http://127.0.0.1:8000/thoi-su.htm"]
interval = "15m"
delay = 0

[[notify]]
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
secret_env = "DXMON_WEBHOOK_SECRET"
"""


def test_a_valid_config_loads_into_typed_values(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.storage_path == tmp_path / "archive.db"
    assert config.fresh_days == 5
    (source,) = config.sources
    assert source.name == "thanhhoa-tv" and source.delay == 0.0
    assert source.interval.total_seconds() == 900
    assert [w.id for w in config.watch] == ["ubqg-cds", "bcd-khcn-cds-da06"]
    assert config.notify[0].kind == "webhook"


@pytest.mark.parametrize("change, key, line", [
    (('interval = "15m"', 'interval = "soon"'), "sources[0].interval", 11),
    (("fresh_days = 5", "fresh_days = -2"), "monitor.fresh_days", 6),
    (("delay = 0", "delai = 0"), "sources[0].delai", 12),
    (('start_urls = ["http://127.0.0.1:8000/thoi-su.htm"]', 'start_urls = ["ftp://x"]'),
     "sources[0].start_urls", 10),
    (('secret_env = "DXMON_WEBHOOK_SECRET"', 'secret = "hunter2"'), "notify[0].secret", 17),
])
def test_a_bad_value_is_rejected_with_its_key_and_line(tmp_path, change, key, line):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert info.value.line == line
    assert f"line {line}" in str(info.value)


def test_broken_toml_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace("[monitor]", "[monitor")))
    assert info.value.line == 5


def test_missing_config_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="dxmon init"):
        load_config(tmp_path / "nope.toml")


def test_durations():
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration(90).total_seconds() == 90
    with pytest.raises(ValueError):
        parse_duration("0m")


def test_a_failed_nested_transaction_undoes_only_its_own_writes(tmp_path):
    """The store pipeline writes a batch in one transaction and each article in a nested
    one: an article that fails must leave the batch's other writes in place."""
    from storage.schema import open_db, transaction

    db = open_db(tmp_path / "t.db")
    with transaction(db):
        db.execute("INSERT INTO sources (name) VALUES ('kept')")
        with pytest.raises(RuntimeError):
            with transaction(db):
                db.execute("INSERT INTO sources (name) VALUES ('undone')")
                with transaction(db):  # a savepoint of the same name inside another
                    db.execute("INSERT INTO sources (name) VALUES ('inner')")
                raise RuntimeError("this article fails")
        with transaction(db):
            db.execute("INSERT INTO sources (name) VALUES ('after')")
    names = [r[0] for r in db.execute("SELECT name FROM sources ORDER BY name")]
    assert names == ["after", "kept"]
    assert not db.conn.in_transaction


# --- stored text: the published form, and archives written before it -------------------

PAGE_TEXT = ("Uỷ ban tỉnh đề nghị báo cáo trước ngày 30/3 hoặc ngay khi có vướng mắc.\n"
             "Kế hoạch số hoá hồ sơ thuỷ lợi được thông qua, không để ngoặc kép sai quy cách.")
# what the normaliser before issue 11 stored for it: one tone placement, "oặ" broken
OLD_STORED = ("Ủy ban tỉnh đề nghị báo cáo trước ngày 30/3 họăc ngay khi có vướng mắc.\n"
              "Kế hoạch số hóa hồ sơ thủy lợi được thông qua, không để ngọăc kép sai quy cách.")


def _extracted(text=PAGE_TEXT, title="Uỷ ban tỉnh bàn kế hoạch số hoá hồ sơ thuỷ lợi"):
    from core.models import Extracted

    url = "http://127.0.0.1/thoi-su/uy-ban-tinh-ban-ke-hoach-so-hoa-34001.htm"
    return Extracted(url=url, canonical_url=url, title=title, text=text)


def test_prepare_stores_the_published_text_and_matches_on_the_normalised_one():
    import hashlib

    from storage.articles import prepare

    prepared = prepare(_extracted(unicodedata.normalize("NFD", PAGE_TEXT) + "\n\n\u200b"))
    assert prepared.text == PAGE_TEXT and prepared.title.startswith("Uỷ ban")
    other = prepare(_extracted(normalize(PAGE_TEXT), "Ủy ban tỉnh bàn kế hoạch số hóa"))
    assert other.text != prepared.text and other.digest == prepared.digest  # still one content
    assert prepared.digest == hashlib.sha256(normalize(PAGE_TEXT).encode()).hexdigest()
    assert "hoac" in prepared.search_text and "uy ban" in prepared.search_title


def test_an_archive_written_before_is_repaired_and_takes_the_pages_spelling(tmp_path):
    """The migration gives "hoặc" back to stored rows without re-detecting them; the
    next crawl that finds the same content restores the page's own tone placement."""
    import hashlib

    from storage.articles import article_versions, prepare, store_article
    from storage.schema import migrate, open_db

    db = open_db(tmp_path / "old.db")
    article_id = store_article(db, "baotinh", _extracted()).article_id
    old_hash = hashlib.sha256(OLD_STORED.encode()).hexdigest()
    db.execute("UPDATE articles SET text = ?, title = ?, content_hash = ?, processed_hash = ? "
               "WHERE id = ?", [OLD_STORED, "Họăc Ủy ban", old_hash, old_hash, article_id])
    db.execute("INSERT INTO mentions (article_id, body, role, evidence, confidence) "
               "VALUES (?, 'ubqg-cds', 'report', ?, 1.0)", [article_id, OLD_STORED[:60]])
    db.execute("DELETE FROM _migrations WHERE name = '0004_repair_oac'")

    assert migrate(db) == ["0004_repair_oac"]
    row = db.execute("SELECT text, title, content_hash, processed_hash FROM articles").fetchone()
    assert "hoặc" in row[0] and "ngoặc" in row[0] and "ọă" not in row[0] and row[1] == "Hoặc Ủy ban"
    assert row[2] == row[3] == prepare(_extracted()).digest  # nothing to detect again
    (evidence,) = db.execute("SELECT evidence FROM mentions").fetchone()
    assert "hoặc" in evidence

    assert store_article(db, "baotinh", _extracted()).outcome == "unchanged"
    (text,) = db.execute("SELECT text FROM articles").fetchone()
    assert text == PAGE_TEXT  # "Uỷ", "hoá", "thuỷ" as the page has them
    assert len(article_versions(db, article_id)) == 1


def test_a_search_snippet_quotes_the_stored_text_even_where_folding_changes_its_length(
        tmp_path):
    """A kept ZWJ (emoji) and a run of non-breaking spaces fold to fewer characters: the
    snippet must still be cut at the match, from the text as stored."""
    from storage.articles import search_articles, store_article
    from storage.schema import open_db

    text = ("Khai mạc 👨\u200d👩\u200d👧 ngày hội gia đình số.\u00a0\u00a0\u00a0" * 30
            + "\nCác xã báo cáo trước ngày 30/3 hoặc ngay khi có vướng mắc về thuỷ lợi.")
    db = open_db(tmp_path / "s.db")
    store_article(db, "baotinh", _extracted(text=text))
    (hit,) = search_articles(db, "hoac vuong mac")
    assert "hoặc ngay khi có vướng mắc về thuỷ lợi" in hit["snippet"]
    (hit,) = search_articles(db, "thủy lợi")
    assert "thuỷ lợi" in hit["snippet"]
