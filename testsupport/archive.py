"""A large synthetic archive, built fast: for the web benchmark (benchmarks/web.py) and
for tests that need volume rather than a crawl.

:func:`build_archive` writes what a long-running dxmon would hold: articles of several
sources over ``days`` days (Vietnamese-looking text from a word list written for this
file, titles, bylines), URL aliases, edited articles with two versions, syndicated
copies in one near-duplicate cluster, sessions of the two default watched bodies with
their reports, previews and references (the evidence sentence in the article text),
upcoming sessions known only from previews, corrected sessions, outbox rows in every
state, crawl runs every half hour for the last month, and hosts held back.

Speed: the articles go in through :mod:`storage.bulk` (``executemany``, one
transaction per batch); text, folded search text and content hash are built word by
word from precomputed forms, because :func:`storage.articles.prepare` costs ~2.7 ms an
article (normalise, fold, MinHash), which alone would be 4.5 minutes for 100k.
Everything small (sessions, mentions, alerts, hosts) goes through storage's ordinary
functions, so the triggers and rules a crawl meets apply. Not written: MinHash
signatures and LSH bands (near-duplicate clusters are set directly), fetch_state.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from core.models import VN_TZ, Mention
from core.text import fold, normalize
from storage import bulk, crawl_state, outbox
from storage import sessions as session_rows
from storage.schema import open_db, transaction, utcnow_iso

__all__ = ["build_archive", "ArchiveFacts", "SOURCES", "BODIES"]

SOURCES = ("baochinhphu-tin", "thanhhoa-tv", "hanoi-portal", "mst-portal", "danang-portal",
           "hcmc-news", "nhandan-tin", "backan-portal")
SECTIONS = ("thoi-su", "chinh-tri", "kinh-te", "xa-hoi", "cong-nghe", "dia-phuong")
BODIES = {
    "ubqg-cds": "Ủy ban Quốc gia về chuyển đổi số",
    "bcd-khcn-cds-da06": ("Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi "
                          "mới sáng tạo, chuyển đổi số và Đề án 06"),
}
# the successor body took over in March 2025 (core.config.DEFAULT_WATCH)
SUCCESSION = date(2025, 3, 1)

# Government-news vocabulary, written for this file; earlier words are drawn more often
# (Zipf weights), as in real text
WORDS = """và của các trong được cho đã với là có những về tại để này người năm
chuyển đổi số dữ liệu phát triển kinh tế xã hội công nghệ thông tin địa phương tỉnh thành
phố Chính phủ Thủ tướng bộ ngành cơ quan nhà nước dịch vụ công trực tuyến hạ tầng quốc gia
đề án nhiệm vụ giải pháp triển khai thực hiện kết quả báo cáo hội nghị chỉ đạo đồng chí
Ủy ban nhân dân doanh nghiệp người dân hiệu quả nâng cao chất lượng đầu tư dự án vốn
ngân sách kế hoạch chương trình tổ chức cán bộ công chức đào tạo nguồn nhân lực đổi mới
sáng tạo khoa học nghiên cứu ứng dụng nền tảng hệ thống quản lý điều hành văn bản hồ sơ
thủ tục hành chính cải cách minh bạch an toàn an ninh mạng bảo mật thông tin cá nhân
định danh điện tử căn cước thanh toán không dùng tiền mặt giáo dục y tế nông nghiệp
giao thông du lịch môi trường khí hậu biển đảo miền núi vùng sâu vùng xa huyện xã
phường thị trấn tháng quý tuần ngày sáng chiều tối hôm nay vừa qua thời gian tới
tiếp tục đẩy mạnh tăng cường bảo đảm hoàn thiện thể chế chính sách pháp luật nghị định
thông tư quyết định nghị quyết kết luận yêu cầu đề nghị thống nhất tháo gỡ khó khăn
vướng mắc điểm nghẽn nguồn lực phối hợp chặt chẽ trách nhiệm người đứng đầu lãnh đạo
Bộ trưởng Thứ trưởng Chủ tịch Phó Chủ tịch Giám đốc Sở trưởng phòng chuyên viên
Hà Nội Thanh Hóa Đà Nẵng Bắc Kạn Cần Thơ Huế Nghệ An Quảng Ninh Hải Phòng Lâm Đồng
tăng trưởng tỷ lệ phần trăm so với cùng kỳ đạt vượt chỉ tiêu mục tiêu cao nhất thấp
""".split()
PUNCTUATION = (".", ".", ".", ",", ";", ":")
AUTHORS = ("Minh An", "Quốc Bảo", "Lê Hằng", "Hoàng Nam", "Thu Hà", "Văn Đức", "Ngọc Lan",
           "Phương Thảo", None)


@dataclass
class ArchiveFacts:
    """What was built: counts, and a few ids a benchmark or test can ask pages for."""

    path: Path
    articles: int = 0
    sessions: int = 0
    upcoming: int = 0
    alerts: int = 0
    crawl_runs: int = 0
    seconds: float = 0.0
    session_ids: list[int] = field(default_factory=list)
    report_article_ids: list[int] = field(default_factory=list)
    edited_article_ids: list[int] = field(default_factory=list)
    query_words: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["path"] = str(self.path)
        return out


@dataclass
class _Article:
    id: int
    source: str
    published: datetime
    paragraphs: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)


class _Writer:
    """Text and its folded form, made word by word from precomputed pairs."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        words = [normalize(w) for w in WORDS]
        self.pairs = [(w, fold(w)) for w in words]
        weights = [1 / (rank + 10) for rank in range(len(words))]
        total, acc = sum(weights), 0.0
        self.cum = []
        for w in weights:
            acc += w / total
            self.cum.append(acc)

    def sentence(self, n: int) -> tuple[str, str]:
        """A sentence of ``n`` words and its folded form."""
        picked = self.rng.choices(self.pairs, cum_weights=self.cum, k=n)
        text = " ".join(p[0] for p in picked)
        folded = " ".join(p[1] for p in picked)
        end = self.rng.choice(PUNCTUATION[:3])
        return text[0].upper() + text[1:] + end, folded + end

    def paragraph(self) -> tuple[str, str]:
        parts = [self.sentence(self.rng.randint(12, 26)) for _ in range(self.rng.randint(1, 3))]
        return " ".join(p[0] for p in parts), " ".join(p[1] for p in parts)


def _day_label(day: date) -> str:
    return f"{day.day}/{day.month}"


def _nth(number: int | None, period: str | None, day: date) -> str:
    if number is None:
        return f"tổng kết hoạt động năm {day.year}"
    return f"thứ {number}" + (f" năm {period}" if period else "")


def build_archive(path: str | Path, articles: int = 100_000, sessions: int = 300, *,
                  seed: int = 14, days: int = 1000, now: datetime | None = None,
                  upcoming: int = 3, batch: int = 5000, log=None) -> ArchiveFacts:
    """Write a synthetic archive of ``articles`` articles and about ``sessions`` sessions
    to a new file at ``path`` (refused if it exists). Deterministic for a ``seed`` and
    ``now`` (default: the current time, so the last 30 days are recent)."""
    started = time.perf_counter()
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists: build_archive writes a new archive only")
    now = (now or datetime.now(VN_TZ)).astimezone(VN_TZ).replace(microsecond=0)
    rng = random.Random(seed)
    writer = _Writer(rng)
    db = open_db(path)
    facts = ArchiveFacts(path=path, query_words=["chuyen doi so", "chuyển đổi số", "du lieu",
                                                 "phien hop", "ha tang so"])
    try:
        db.execute("PRAGMA synchronous = OFF")  # a fresh file nothing else reads yet
        first = now - timedelta(days=days)
        bulk.bulk_add_sources(db, [{"name": s, "first_crawl_at": utcnow_iso(first),
                                    "baseline_at": utcnow_iso(first + timedelta(minutes=3))}
                                   for s in SOURCES])
        metas = _schedule(rng, articles, first, now)
        plan = _plan_sessions(rng, metas, sessions, upcoming, now)
        _write_articles(db, rng, writer, metas, plan, now, batch, facts, log)
        _write_sessions(db, rng, plan, metas, now, facts)
        facts.crawl_runs = _write_crawl_runs(db, rng, now)
        _write_hosts(db, now)
        facts.articles = len(metas)
        db.execute("ANALYZE")
        db.execute("PRAGMA optimize")
    finally:
        db.close()
    facts.seconds = round(time.perf_counter() - started, 1)
    return facts


def _schedule(rng: random.Random, count: int, first: datetime, now: datetime) -> list[_Article]:
    """Articles at random times over the span, numbered in the order they were seen."""
    span = (now - first).total_seconds()
    times = sorted(first + timedelta(seconds=rng.random() * span) for _ in range(count))
    return [_Article(id=i + 1, source=rng.choice(SOURCES), published=t.replace(microsecond=0))
            for i, t in enumerate(times)]


@dataclass
class _Session:
    body: str
    number: int | None
    period: str | None
    day: date
    reports: list[int]
    previews: list[int]
    references: list[int]
    held: bool = True
    wrong_number: int | None = None  # first printed with this number, then corrected

    def evidence(self, role: str) -> str:
        name, nth = BODIES[self.body], _nth(self.number, self.period, self.day)
        if role == "preview":
            return (f"Ngày {_day_label(self.day)}, Thủ tướng Chính phủ sẽ chủ trì phiên họp "
                    f"{nth} của {name}.")
        if role == "reference":
            return f"Thực hiện kết luận tại phiên họp {nth} của {name}, các bộ đã báo cáo."
        return f"Sáng {_day_label(self.day)}, Thủ tướng Chính phủ chủ trì phiên họp {nth} của {name}."


def _plan_sessions(rng: random.Random, metas: list[_Article], count: int, upcoming: int,
                   now: datetime) -> list[_Session]:
    """Which articles report, preview and reference which session."""
    times = [m.published for m in metas]
    first, last = times[0].date(), now.date()
    span = (last - first).days - 2
    days = sorted(first + timedelta(days=1 + int(span * (i + rng.random()) / max(count, 1)))
                  for i in range(count))
    numbers: dict[tuple[str, str | None], int] = {}
    used: set[int] = set()
    plan = []

    def pick(lo: datetime, hi: datetime, k: int) -> list[int]:
        a, b = bisect.bisect_left(times, lo), bisect.bisect_right(times, hi)
        free = [metas[i].id for i in range(a, b) if metas[i].id not in used]
        chosen = rng.sample(free, min(k, len(free)))
        used.update(chosen)
        return chosen

    for day in days:
        body = "ubqg-cds" if day < SUCCESSION else "bcd-khcn-cds-da06"
        period = str(day.year) if body == "bcd-khcn-cds-da06" else None
        if rng.random() < 0.1:
            number = None  # "tổng kết hoạt động năm": unnumbered, keyed by date
        else:
            number = numbers[(body, period)] = numbers.get((body, period), 0) + 1
        start = datetime.combine(day, datetime.min.time(), VN_TZ) + timedelta(hours=9)
        s = _Session(body, number, period, day,
                     reports=pick(start, start + timedelta(days=1), rng.randint(2, 8)),
                     previews=pick(start - timedelta(days=5), start - timedelta(hours=12),
                                   rng.randint(0, 2)),
                     references=pick(start + timedelta(days=2), start + timedelta(days=60),
                                     rng.randint(0, 3)))
        if not s.reports:
            continue
        if number is not None and rng.random() < 0.02:
            s.wrong_number = number + 100
        plan.append(s)
    body = "bcd-khcn-cds-da06"
    for k in range(upcoming):  # announced, not held yet
        day = now.date() + timedelta(days=2 + 3 * k)
        period = str(day.year)
        number = numbers[(body, period)] = numbers.get((body, period), 0) + 1
        plan.append(_Session(body, number, period, day, reports=[], held=False,
                             previews=pick(now - timedelta(days=3), now, 2), references=[]))
    return plan


def _write_articles(db, rng, writer: _Writer, metas: list[_Article], plan: list[_Session],
                    now: datetime, batch: int, facts: ArchiveFacts, log) -> None:
    roles: dict[int, list[tuple[_Session, str]]] = {}
    for s in plan:
        for role, ids in (("report", s.reports), ("preview", s.previews),
                          ("reference", s.references)):
            for article_id in ids:
                roles.setdefault(article_id, []).append((s, role))
    for start in range(0, len(metas), batch):
        rows, urls, versions, search = [], [], [], []
        for meta in metas[start:start + batch]:
            _article_rows(rng, writer, meta, roles.get(meta.id, []), now, rows, urls,
                          versions, search, facts)
        bulk.bulk_add_articles(db, rows, urls, versions, search)
        if log:
            log(f"  {start + len(rows):,} articles")


def _article_rows(rng, writer: _Writer, meta: _Article, roles, now, rows, urls, versions,
                  search, facts) -> None:
    paragraphs = [writer.paragraph() for _ in range(rng.randint(3, 7))]
    title, title_folded = writer.sentence(rng.randint(8, 14))
    title, title_folded = title[:-1], title_folded[:-1]
    for s, role in roles:
        evidence = s.evidence(role)
        paragraphs.insert(0 if role == "report" else 1, (evidence, fold(normalize(evidence))))
        if role == "report":
            title = f"Thủ tướng chủ trì phiên họp {_nth(s.number, s.period, s.day)} của " \
                    f"{BODIES[s.body]}"
            title_folded = fold(normalize(title))
            facts.report_article_ids.append(meta.id)
    text = "\n".join(p[0] for p in paragraphs)
    folded = "\n".join(p[1] for p in paragraphs)
    host = f"{meta.source}.example.test"
    section = rng.choice(SECTIONS)
    url = f"https://{host}/{section}/bai-viet-{meta.id}.htm"
    seen = meta.published + timedelta(minutes=rng.randint(2, 40))
    seen_iso = utcnow_iso(min(seen, now))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()  # = content_hash(text):
    # the words are in the matching form already (checked by tests/test_feeds.py)
    cluster = meta.id
    if rows and rng.random() < 0.03:  # a syndicated copy of a recent article elsewhere
        other = rows[rng.randrange(len(rows))]
        if other["source"] != meta.source:
            cluster = other["cluster_id"]
            text = other["text"] + f"\nNguồn: {other['source']}"
            folded = fold(normalize(text))
            title, title_folded = other["title"], fold(normalize(other["title"]))
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    author = rng.choice(AUTHORS)
    rows.append({"id": meta.id, "url": url, "source": meta.source, "title": title,
                 "author": author, "published_at": meta.published.isoformat(),
                 "text": text, "content_hash": digest, "site_name": meta.source,
                 "related": json.dumps([], ensure_ascii=False), "first_seen": seen_iso,
                 "last_seen": seen_iso, "processed_hash": digest, "cluster_id": cluster})
    urls.append((url, meta.id, seen_iso))
    if rng.random() < 0.1:  # the same article linked another way
        urls.append((f"https://m.{host}/{section}/bai-viet-{meta.id}.htm?utm_source=rss",
                     meta.id, seen_iso))
    if rng.random() < 0.03 and not roles:  # edited once after publication
        first_text = text.replace(".", ",", 1) + "\n" + writer.paragraph()[0]
        edited_at = utcnow_iso(min(seen + timedelta(hours=rng.randint(1, 48)), now))
        versions.append((meta.id, hashlib.sha256(first_text.encode()).hexdigest(), title,
                         first_text, seen_iso))
        versions.append((meta.id, digest, title, text, edited_at))
        rows[-1]["last_seen"] = edited_at
        facts.edited_article_ids.append(meta.id)
    else:
        versions.append((meta.id, digest, title, text, seen_iso))
    search.append((meta.id, title_folded, folded))


def _write_sessions(db, rng, plan: list[_Session], metas: list[_Article], now: datetime,
                    facts: ArchiveFacts) -> None:
    """Sessions, mentions and outbox rows through storage's own functions (the triggers
    that keep uid and revision run as in a crawl)."""
    seen_of = {m.id: m.published for m in metas}
    channels = ("webhook", "email")
    with transaction(db):
        for s in plan:
            for role, ids in (("preview", s.previews), ("report", s.reports),
                              ("reference", s.references)):
                for article_id in ids:
                    session_rows.add_mention(db, article_id, _mention(s, role))
            if not s.held:
                facts.upcoming += 1
                continue
            first = min(seen_of[a] for a in s.reports) + timedelta(minutes=5)
            number = s.wrong_number if s.wrong_number is not None else s.number
            key = _key(s.body, number, s.period, s.day)
            session_id = session_rows.create_session(
                db, key=key, body=s.body, number=number, period=s.period,
                day=s.day.isoformat(), title=f"Phiên họp {_nth(number, s.period, s.day)}",
                first_seen=utcnow_iso(first))
            facts.session_ids.append(session_id)
            for role, ids in (("report", s.reports), ("preview", s.previews),
                              ("reference", s.references)):
                for article_id in ids:
                    session_rows.attach_article(db, session_id, article_id, _mention(s, role),
                                            utcnow_iso(seen_of[article_id]))
            recent = now - first < timedelta(days=90)
            if recent:
                session_rows.mark_alertable(db, session_id)
                for channel in channels:
                    facts.alerts += _alert(db, rng, session_id, channel, "session", first, now)
            if s.wrong_number is not None:  # corrected by a later edit
                session_rows.update_session(db, session_id, {
                    "number": s.number, "key": _key(s.body, s.number, s.period, s.day)})
                if recent:
                    for channel in channels:
                        facts.alerts += _alert(db, rng, session_id, channel, "correction",
                                               first + timedelta(hours=3), now)
    facts.sessions = len(facts.session_ids)


def _key(body: str, number: int | None, period: str | None, day: date) -> str:
    from monitor.grouping import session_key  # the one rule for keys
    return session_key(body, number, period, day)


def _mention(s: _Session, role: str) -> Mention:
    return Mention(body=s.body, role=role, evidence=s.evidence(role), number=s.number,
                   period=s.period, date=s.day)


def _alert(db, rng, session_id: int, channel: str, kind: str, when: datetime,
           now: datetime) -> int:
    """One outbox row, in the state a real dispatcher would have left it."""
    alert_id = outbox.enqueue_alert(db, session_id, channel, kind,
                                    f"dxmon-{kind}-{session_id}-{channel}", when)
    if alert_id is None:
        return 0
    draw = rng.random()
    if draw < 0.85:
        outbox.close_alert(db, alert_id, "sent", None, when + timedelta(seconds=2))
    elif draw < 0.93:
        outbox.close_alert(db, alert_id, "failed", "HTTP 410 Gone: the receiver refused it",
                           when + timedelta(minutes=5))
    elif when > now - timedelta(days=2):
        outbox.schedule_retry(db, alert_id, "timed out after 10 s", now + timedelta(minutes=7))
    else:
        outbox.close_alert(db, alert_id, "sent", None, when + timedelta(minutes=9))
    return 1


def _write_crawl_runs(db, rng, now: datetime) -> int:
    """A run per source every half hour for 30 days: mostly ok, some failed."""
    rows = []
    for source in SOURCES:
        at = now - timedelta(days=30)
        while at < now:
            took = rng.uniform(2, 40)
            failed = rng.random() < 0.02
            stats = {"reason": "finished", "pages_ok": 0 if failed else rng.randint(3, 60),
                     "articles_new": 0 if failed else rng.randint(0, 6),
                     "articles_unchanged": rng.randint(0, 20),
                     "log_count/ERROR": rng.randint(1, 5) if failed else 0,
                     "elapsed_time_seconds": round(took, 2)}
            rows.append((source, utcnow_iso(at, "milliseconds"),
                         utcnow_iso(at + timedelta(seconds=took), "milliseconds"),
                         "failed" if failed else "ok", json.dumps(stats)))
            at += timedelta(minutes=30)
    bulk.bulk_add_crawl_runs(db, rows)
    return len(rows)


def _write_hosts(db, now: datetime) -> None:
    """Two hosts held back, one slowed by robots.txt."""
    crawl_state.record_host(db, "danang-portal.example.test", ok=False,
                            reason="HTTP 503 five times in a row", now=now,
                           backoff=timedelta(hours=2))
    crawl_state.record_host(db, "backan-portal.example.test", ok=False,
                            reason="connection refused", now=now,
                           backoff=timedelta(minutes=40))
    crawl_state.record_host(db, "hcmc-news.example.test", ok=True, crawl_delay=5.0, now=now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    facts = build_archive(args.path, args.articles, args.sessions, seed=args.seed,
                          log=lambda line: print(line, file=sys.stderr))
    print(json.dumps(facts.as_dict() | {"session_ids": len(facts.session_ids),
                                        "report_article_ids": len(facts.report_article_ids),
                                        "edited_article_ids": len(facts.edited_article_ids)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
