"""Topic watches, end to end: test portals → `dxmon crawl` → SQLite → a webhook receiver.

Real parts only: the five test portals on 127.0.0.1, `dxmon crawl` (a `scrapy crawl
news` child), the SQLite file and an HTTP receiver. The stories are in
tests/topic_stories.py: one cyber-security drill told by several outlets in
near-identical words, another story on the same subject, one on nothing watched, one
on an expressway (found by a query written without diacritics), and an old article
discovered late.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import parse_config
from core.errors import ConfigError
from core.models import VN_TZ, Extracted, Topic
from core.text import fold
from monitor.process import process_articles
from monitor.topics import matches, render_topic, topic_message
from storage.articles import search_articles, store_article
from storage.crawl_state import finish_crawl_run, start_crawl_run
from storage.schema import open_db
from tests.topic_stories import (
    DRILL_BODY,
    EXPRESSWAY,
    HARVEST,
    OLD_COURSE,
    TOPICS,
    TRAINING,
    drill,
    expressway,
    harvest,
    hook,
    payload,
    topic_hits,
    training,
)
from testsupport.content import recently


def test_a_story_told_by_three_outlets_alerts_once_listing_them(crawl, portals,
                                                                webhook_receiver):
    crawl.write_config(extra=hook(webhook_receiver) + TOPICS, fresh_days=2)
    crawl.dxmon("crawl")
    # the baseline: the archive's articles about the subjects are recorded, silently
    history = crawl.query("SELECT topic, news, alerted FROM topic_matches")
    assert {r["topic"] for r in history} == {"an-ninh-mang", "cao-toc"}
    assert all(r["news"] == 0 and r["alerted"] == 0 for r in history)
    assert topic_hits(webhook_receiver) == []

    now = datetime.now(VN_TZ)
    for n, site in enumerate(["thanhhoa-tv", "hagiang-tv", "hanoi-portal"]):
        portals.publish(site, drill(site, recently(now, 30 - n), n))
    portals.publish("mst-portal", training("mst-portal", recently(now, 20)))
    portals.publish("chinhphu-news", harvest("chinhphu-news", recently(now, 15)))
    portals.publish("chinhphu-news", expressway("chinhphu-news", recently(now, 10)))
    # on the subject, but published three days ago (fresh_days = 2): found now, history
    portals.publish("mst-portal", training("mst-portal", now - timedelta(days=3),
                                           slug="khoa-boi-duong-an-ninh-mang-nam-truoc", cadres=60,
                                           paragraphs=OLD_COURSE))
    crawl.dxmon("crawl")

    hits = topic_hits(webhook_receiver)
    # the title is the story's first stored copy's: any of the three outlets' words
    drills = {drill(s, now, n).title for n, s in enumerate(["thanhhoa-tv", "hagiang-tv",
                                                            "hanoi-portal"])}
    stories = sorted((payload(h)["topic"]["id"], payload(h)["title"] in drills,
                      payload(h)["title"]) for h in hits)
    assert [s[:2] for s in stories] == [("an-ninh-mang", False), ("an-ninh-mang", True),
                                        ("cao-toc", False)]
    assert stories[0][2] == "Bồi dưỡng kỹ năng an ninh mạng cho cán bộ cấp xã"
    assert stories[2][2] == "Khởi công tuyến đường cao tốc liên tỉnh"
    # the premise: the three copies are one near-duplicate cluster, the others are not
    copies = crawl.query("SELECT DISTINCT cluster_id FROM articles WHERE url LIKE "
                         "'%dien-tap-ung-cuu-su-co-an-ninh-mang%'")
    assert len(copies) == 1
    (story,) = [payload(h) for h in hits if payload(h)["title"] in drills]
    assert sorted(story["outlets"]) == ["hagiang-tv", "hanoi-portal", "thanhhoa-tv"]
    assert {a["url"] for a in story["articles"]} == {
        portals.url(s, drill(s, now, 0).slug) for s in ["thanhhoa-tv", "hagiang-tv",
                                                         "hanoi-portal"]}
    # the rice harvest matched nothing; the old course was recorded as history
    assert not crawl.query("SELECT 1 FROM topic_matches m JOIN articles a ON a.id = "
                           "m.article_id WHERE a.url LIKE '%thu-hoach-lua%'")
    (old,) = crawl.query("SELECT news, alerted FROM topic_matches m JOIN articles a ON a.id = "
                         "m.article_id WHERE a.url LIKE '%nam-truoc%'")
    assert old == {"news": 0, "alerted": 0}

    # the message a person reads: title, every outlet, every link (the renderer the
    # crawl process used gave the webhook's subject)
    (sent,) = [h for h in hits if payload(h)["title"] in drills]
    assert sent["subject"] == f"Chủ đề «An ninh mạng»: {story['title']}"
    assert sent["delivery_id"] == f"dxmon-topic.match-an-ninh-mang+{copies[0]['cluster_id']}" \
        "-webhook"
    subject, text, markdown = topic_message(story)
    assert "An ninh mạng" in subject and story["title"] in subject
    for a in story["articles"]:
        assert a["url"] in text and a["outlet"] in text and f"]({a['url']})" in markdown

    # a fourth outlet syndicates the drill later, and a crawl runs again: still one alert
    portals.publish("chinhphu-news", drill("chinhphu-news", recently(now, 5), 3))
    crawl.dxmon("crawl")
    assert len(topic_hits(webhook_receiver)) == 3
    late = crawl.query("SELECT m.news, m.alerted FROM topic_matches m JOIN articles a ON "
                       "a.id = m.article_id WHERE a.source = 'chinhphu-news' AND a.url LIKE "
                       "'%dien-tap%'")
    assert late == [{"news": 1, "alerted": 0}]
    assert len({h.headers["x-dxmon-delivery"] for h in webhook_receiver.delivered}) == \
        len(webhook_receiver.delivered)


@pytest.mark.parametrize("entry, key, message", [
    ('id = "x"\nname = "X"\nquery = "  *  "', "topic[0].query", "at least one word"),
    ('id = "x"\nname = "X"\nquery = "a"\nsources = ["nowhere"]', "topic[0].sources",
     "no source named 'nowhere'"),
    ('id = "x"\nname = "X"\nquery = "a"\nmin_chars = -1', "topic[0].min_chars", ""),
    ('id = "x y"\nname = "X"\nquery = "a"', "topic[0].id", ""),
    ('id = "x"\nquery = "a"', "topic[0].name", "required"),
])
def test_a_bad_topic_is_refused_naming_its_key(entry, key, message):
    with pytest.raises(ConfigError) as err:
        parse_config(f"[[topic]]\n{entry}\n")
    assert err.value.key == key and message in str(err.value)


def test_a_good_topic_is_read_with_its_defaults():
    config = parse_config('[[topic]]\nid = "t"\nname = "Tên"\nquery = "chuyen doi so"\n')
    (topic,) = config.topics
    assert (topic.query, topic.sources, topic.min_chars) == ("chuyen doi so", (), 0)


def test_a_copy_found_before_the_first_send_joins_the_queued_message(tmp_path):
    """Three outlets' copies found by three crawls (as `dxmon serve` crawls each source
    on its own): the one queued message lists every copy found before its first send
    attempt, and none found after it (a retry sends the bytes its first attempt sent)."""
    config = parse_config(f'[storage]\npath = "{tmp_path / "dxmon.db"}"\n'
                          '[[notify]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
                          'events = ["topic.match"]\n' + TOPICS)
    db = open_db(config.storage_path)
    now = datetime.now(VN_TZ)
    sites = ["thanhhoa-tv", "hagiang-tv", "hanoi-portal"]
    for site in sites:  # each source's baseline crawl ended an hour ago
        run = start_crawl_run(db, site, now=now - timedelta(hours=1))
        finish_crawl_run(db, run, "ok", {}, now=now - timedelta(hours=1))

    def found(n: int) -> list[dict]:
        story = drill(sites[n], recently(now, 30), n)
        url = f"http://127.0.0.1/{sites[n]}/{story.slug}"
        store_article(db, sites[n], Extracted(
            url=url, canonical_url=url, title=story.title, published_at=story.published,
            text="\n".join([story.sapo, *story.paragraphs])), now=now)
        process_articles(db, config, now=now)
        return [json.loads(r["payload"])["outlets"]
                for r in db.query("SELECT payload FROM alerts WHERE event = 'topic.match'")]

    assert found(0) == [["thanhhoa-tv"]]
    assert found(1) == [["thanhhoa-tv", "hagiang-tv"]]
    db.execute("UPDATE alerts SET attempts = 1")  # a send was tried (and failed)
    db.conn.commit()
    assert found(2) == [["thanhhoa-tv", "hagiang-tv"]]
    assert [r["alerted"] for r in db.query("SELECT alerted FROM topic_matches")] == [1, 0, 0]
    db.close()


# --- a topic matches exactly what `dxmon search` finds ---------------------------------

WORDS = sorted({w.strip(".,:;«»()") for text in (*DRILL_BODY, *TRAINING, *HARVEST, *EXPRESSWAY)
                for w in text.split() if w.strip(".,:;«»()")})


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A few stories stored as a crawl stores them (search index, clusters)."""
    db = open_db(tmp_path_factory.mktemp("topics") / "dxmon.db")
    now = datetime.now(VN_TZ)
    stories = [drill("thanhhoa-tv", now, 0), training("mst-portal", now),
               harvest("hagiang-tv", now), expressway("chinhphu-news", now)]
    for story in stories:
        url = f"http://127.0.0.1/{story.site}/{story.slug}"
        store_article(db, story.site, Extracted(
            url=url, canonical_url=url, title=story.title, published_at=story.published,
            text="\n".join([story.sapo, *story.paragraphs])), now=now)
    yield db
    db.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
       fold_it=st.booleans(), prefix=st.booleans())
def test_a_topic_matches_what_search_finds(archive, words, fold_it, prefix):
    query = " ".join(words)
    if fold_it:  # typed without diacritics
        query = fold(query)
    if prefix:
        query = query[:max(1, len(query) - 2)] + "*"
    topic = Topic(id="t", name="t", query=query)
    found = {r["id"] for r in search_articles(archive, query, limit=100)}
    ids = [r["id"] for r in archive.query("SELECT id FROM articles")]
    matched = {i for i in ids if matches(archive, topic, next(
        archive.query("SELECT * FROM articles WHERE id = ?", [i])))}
    assert matched == found


def test_sources_and_min_chars_narrow_a_topic(archive):
    rows = {r["source"]: r for r in archive.query("SELECT * FROM articles")}
    everywhere = Topic(id="t", name="t", query="an ninh mang")
    assert {s for s, r in rows.items() if matches(archive, everywhere, r)} == {
        "thanhhoa-tv", "mst-portal"}
    one_source = Topic(id="t", name="t", query="an ninh mang", sources=("mst-portal",))
    assert {s for s, r in rows.items() if matches(archive, one_source, r)} == {"mst-portal"}
    # the course's text is shorter than the drill's: a bar between them keeps the drill
    short, long = sorted(len(rows[s]["text"]) for s in ("mst-portal", "thanhhoa-tv"))
    assert short < long
    long_only = Topic(id="t", name="t", query="an ninh mang", min_chars=short + 1)
    assert {s for s, r in rows.items() if matches(archive, long_only, r)} == {"thanhhoa-tv"}


def test_a_hostile_title_cannot_format_the_message_and_a_strange_payload_still_renders():
    from notifier.message import Alert

    evil = "Tin ](http://evil.example) **đậm** [x"
    story = {"topic": {"id": "t", "name": "An *ninh*", "query": "an ninh"}, "story": 1,
             "title": evil, "outlets": ["a"], "articles": [
                 {"url": "http://127.0.0.1/a) [b](c", "outlet": "a", "title": evil,
                  "published": None}]}
    rendered = render_topic(Alert(delivery_id="d", kind="topic.match", channel="c",
                                  data=story))
    assert "](http://evil.example)" not in rendered.markdown
    assert "**đậm**" not in rendered.markdown and "\\*\\*đậm\\*\\*" in rendered.markdown
    assert "(http://127.0.0.1/a%29%20%5Bb%5D%28c)" in rendered.markdown
    assert evil in rendered.text  # the plain text is the title as published
    # a payload this module did not write is listed key by key, not a failed alert
    odd = render_topic(Alert(delivery_id="d", kind="topic.match", channel="c",
                             data={"summary": "khác"}))
    assert odd.subject == "dxmon: topic.match — khác"
