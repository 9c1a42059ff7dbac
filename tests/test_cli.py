"""The `dxmon` commands a person runs on an archive, tested in-process."""

import json
from datetime import date, datetime, timedelta

import pytest

from core.config import load_config
from core.models import VN_TZ, Extracted, Mention
from monitor.cli import build_parser, main
from monitor.process import process_articles
from storage.articles import store_article
from storage.schema import open_db

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=VN_TZ)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def archive(tmp_path):
    """A config and a database holding three articles, one edited, one an alias."""
    path = tmp_path / "dxmon.toml"
    path.write_text('[storage]\npath = "a.db"\n[[sources]]\nname = "tv"\n'
                    'start_urls = ["http://127.0.0.1:9/"]\n', encoding="utf-8")
    config = load_config(path)
    db = open_db(config.storage_path)

    def put(url, title, text, when=NOW):
        return store_article(db, "tv", Extracted(
            url=url, canonical_url=url.split("?")[0], title=title, text=text,
            published_at=when), now=when)

    put("http://127.0.0.1:9/a.htm", "Phiên họp thứ 8 của Ủy ban",
        "Sáng 24/4, Ủy ban Quốc gia về chuyển đổi số họp phiên thứ 8.\nĐoạn hai.")
    put("http://127.0.0.1:9/a.htm?utm_source=zalo", "Phiên họp thứ 8 của Ủy ban",
        "Sáng 24/4, Ủy ban Quốc gia về chuyển đổi số họp phiên thứ 8.\nĐoạn hai.")
    put("http://127.0.0.1:9/b.htm", "Hội nghị về kinh tế số", "Hà Nội bàn về kinh tế số.")
    put("http://127.0.0.1:9/a.htm", "Phiên họp thứ 8 của Ủy ban",
        "Sáng 24/4, Ủy ban Quốc gia về chuyển đổi số họp phiên thứ 8.\nĐoạn hai, sửa lại.",
        when=NOW + timedelta(hours=1))
    process_articles(db, config, now=NOW, detector=lambda text, published: [
        Mention(body="ubqg-cds", role="report", evidence=text.split("\n")[1], number=8,
                date=date(2024, 4, 24))] if "phiên thứ 8" in text else [])
    db.close()
    return path


def test_every_command_is_documented_in_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("demo", "init", "crawl", "serve", "sessions", "articles", "search", "status",
                 "detect", "notify-test", "history", "web"):
        assert name in commands
        assert commands[name].description, name


def test_init_writes_a_valid_starter_config(tmp_path, capsys):
    target = tmp_path / "dxmon.toml"
    code, out, _ = run(capsys, "init", str(target))
    assert code == 0 and target.exists()
    config = load_config(target)
    names = {s.name for s in config.sources}
    assert {"baochinhphu", "mst", "thanhhoa-tv", "tuyenquang", "hanoi"} <= names
    code, _, err = run(capsys, "init", str(target))
    assert code == 2 and "--force" in err


def test_a_bad_config_is_reported_with_key_and_line(tmp_path, capsys):
    path = tmp_path / "dxmon.toml"
    path.write_text('[[sources]]\nname = "x"\nstart_urls = ["http://127.0.0.1/"]\n'
                    'delay = "slow"\n', encoding="utf-8")
    code, _, err = run(capsys, "articles", "--config", str(path))
    assert code == 2
    assert "line 4" in err and "sources[0].delay" in err


def test_articles_lists_each_content_once(archive, capsys):
    code, out, _ = run(capsys, "articles", "--config", str(archive), "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2
    by_title = {r["title"]: r for r in rows}
    assert by_title["Phiên họp thứ 8 của Ủy ban"]["urls"] == 2


def test_search_matches_with_and_without_diacritics(archive, capsys):
    for query in ("chuyển đổi số", "chuyen doi so", "CHUYEN DOI SO", "Uỷ ban"):
        code, out, _ = run(capsys, "search", query, "--config", str(archive), "--json")
        hits = json.loads(out)
        assert code == 0 and [h["title"] for h in hits] == ["Phiên họp thứ 8 của Ủy ban"], query
    code, out, _ = run(capsys, "search", "kinh te so", "--config", str(archive))
    assert "Hội nghị về kinh tế số" in out


def test_sessions_lists_number_date_and_first_report(archive, capsys):
    code, out, _ = run(capsys, "sessions", "--config", str(archive))
    assert code == 0
    assert "2024-04-24" in out and "ubqg-cds" in out and "http://127.0.0.1:9/a.htm" in out
    code, out, _ = run(capsys, "sessions", "--config", str(archive), "--json")
    (session,) = json.loads(out)
    assert session["number"] == 8 and session["articles"][0]["role"] == "report"


def test_history_shows_versions_and_a_diff(archive, capsys):
    code, out, _ = run(capsys, "history", "http://127.0.0.1:9/a.htm?utm_source=zalo",
                       "--config", str(archive))
    assert code == 0 and "2 versions" in out
    assert "-Đoạn hai." in out and "+Đoạn hai, sửa lại." in out
    code, out, _ = run(capsys, "history", "http://127.0.0.1:9/a.htm", "--config", str(archive),
                       "--json")
    data = json.loads(out)
    assert len(data["versions"]) == 2 and len(data["urls"]) == 2


def test_status_summarises_sources_and_sessions(archive, capsys):
    code, out, _ = run(capsys, "status", "--config", str(archive), "--json")
    status = json.loads(out)
    assert code == 0
    assert status["sources"][0]["source"] == "tv" and status["sources"][0]["articles"] == 2
    assert status["sessions"] == 1
