"""The articles the demo and test portals publish, and the session reports they can add.

The articles are ours (``articles.json`` beside this file), written in the shape of
the seed documents: leads that name the body and the bridge point, bylines, related
lists that mention other bodies' sessions. :func:`session_report` writes a fresh
report of a session in one outlet's words, so tests and the demo can publish a new
session "now" and have several outlets report it differently.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from core.models import VN_TZ

__all__ = ["PortalArticle", "load_articles", "session_report", "BODY_NAMES", "ARTICLES_JSON"]

ARTICLES_JSON = Path(__file__).with_name("articles.json")

BODY_NAMES = {
    "ubqg-cds": "Ủy ban Quốc gia về chuyển đổi số",
    "bcd-khcn-cds-da06": ("Ban Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, "
                          "đổi mới sáng tạo, chuyển đổi số và Đề án 06"),
}


@dataclass(frozen=True)
class PortalArticle:
    slug: str
    site: str
    section: str
    title: str
    published: datetime
    author: str = ""
    sapo: str = ""
    paragraphs: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    related: tuple[tuple[str, str], ...] = ()  # (title, slug)
    tags: tuple[str, ...] = ()
    labels: tuple[dict, ...] = field(default=(), compare=False)

    @property
    def id(self) -> int:
        """A stable numeric id, as portals put in their URLs."""
        return 100000 + zlib.crc32(self.slug.encode()) % 900000

    def edited(self, **changes) -> PortalArticle:
        return replace(self, **changes)


def article_from_json(item: dict, site: str | None = None) -> PortalArticle:
    published = datetime.fromisoformat(item["published"])
    if published.tzinfo is None:
        published = published.replace(tzinfo=VN_TZ)
    return PortalArticle(
        slug=item["slug"], site=site or item.get("site") or item.get("outlet"),
        section=item.get("section", "thoi-su"), title=item["title"], published=published,
        author=item.get("author", ""), sapo=item.get("sapo", ""),
        paragraphs=tuple(item.get("paragraphs", ())), captions=tuple(item.get("captions", ())),
        related=tuple((r["title"], r.get("slug", "")) for r in item.get("related", ())),
        tags=tuple(item.get("tags", ())), labels=tuple(item.get("labels", ())))


def load_articles(path: Path = ARTICLES_JSON) -> list[PortalArticle]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [article_from_json(item) for item in data["articles"]]


# How each outlet words a report of a session (its own lead and follow-up).
_LEADS = {
    "chinhphu-news": ("{when}, tại trụ sở Chính phủ, Thủ tướng Chính phủ chủ trì phiên họp "
                      "{nth} của {body}, kết nối trực tuyến tới các bộ, ngành và địa phương."),
    "thanhhoa-tv": ("{when}, phát biểu tại phiên họp {nth} của {body}, Thủ tướng Chính phủ "
                    "nhấn mạnh chuyển đổi số phải lấy người dân làm trung tâm. Dự tại điểm cầu "
                    "tỉnh Thanh Hóa có lãnh đạo UBND tỉnh và các sở, ngành."),
    "hagiang-tv": ("{when}, {body} tổ chức phiên họp {nth} theo hình thức trực tiếp kết hợp "
                   "trực tuyến. Tham dự tại điểm cầu tỉnh có Phó Chủ tịch UBND tỉnh cùng lãnh "
                   "đạo các sở, ban, ngành."),
    "hanoi-portal": ("{when}, Chủ tịch UBND thành phố Hà Nội dự phiên họp {nth} của {body} tại "
                     "điểm cầu thành phố; phiên họp do Thủ tướng Chính phủ chủ trì."),
    "mst-portal": ("{when}, Bộ trưởng Bộ Khoa học và Công nghệ báo cáo tại phiên họp {nth} của "
                   "{body} về kết quả triển khai các nhiệm vụ trọng tâm của ngành."),
}
_ORDINALS = {1: "thứ nhất", 2: "thứ hai", 3: "thứ ba", 4: "thứ tư", 5: "thứ năm", 6: "thứ sáu",
             7: "thứ bảy", 8: "thứ tám", 9: "thứ chín", 10: "thứ mười"}
_FOLLOW_UP = [
    "Báo cáo tại phiên họp cho biết, thời gian qua các bộ, ngành và địa phương đã tập trung "
    "hoàn thiện thể chế, phát triển hạ tầng số và đẩy mạnh cung cấp dịch vụ công trực tuyến "
    "toàn trình; nhiều cơ sở dữ liệu quốc gia đã được kết nối, chia sẻ.",
    "Kết luận phiên họp, Thủ tướng yêu cầu các thành viên bám sát nhiệm vụ được giao, tháo gỡ "
    "dứt điểm những vướng mắc về dữ liệu và nguồn nhân lực, bảo đảm an toàn thông tin mạng "
    "trong quá trình chuyển đổi số.",
    "Theo kế hoạch, các cơ quan thường trực sẽ tổng hợp ý kiến của thành viên để hoàn thiện "
    "chương trình công tác và báo cáo Thủ tướng trong tháng tới.",
]


def session_report(site: str, body: str, number: int | None, day: date, published: datetime,
                   *, variant: int = 0, section: str | None = None) -> PortalArticle:
    """A new article on ``site`` reporting session ``number`` of ``body`` held on ``day``."""
    name = BODY_NAMES[body]
    if published.date() == day:
        when = ("Sáng nay" if variant % 2 == 0 else "Chiều nay") + f" ({day.day}/{day.month})"
    else:
        when = f"Sáng {day.day}/{day.month}"
    if number is None:
        nth = f"tổng kết hoạt động năm {day.year}"
        title_nth = "tổng kết năm"
    else:
        nth = f"lần {_ORDINALS.get(number, f'thứ {number}')}" if variant % 2 else f"thứ {number}"
        title_nth = f"thứ {number}"
    lead = _LEADS.get(site, _LEADS["chinhphu-news"]).format(when=when, nth=nth, body=name)
    titles = [f"Thủ tướng chủ trì phiên họp {title_nth} của {name}",
              f"Đẩy mạnh chuyển đổi số: {name} họp phiên {title_nth}",
              f"Phiên họp {title_nth} của {name}: tháo gỡ điểm nghẽn về dữ liệu",
              f"Điểm cầu địa phương dự phiên họp {title_nth} của {name}"]
    slug = f"phien-hop-{title_nth.replace(' ', '-').replace('ứ', 'u').replace('ổ', 'o')}" \
           f"-{body}-{day.isoformat()}-{site}-{variant}"
    slug = slug.encode("ascii", "ignore").decode()
    related = (("Ban Chỉ đạo quốc gia về IUU họp phiên thứ 26", "iuu-phien-26"),
               ("Ban Chỉ đạo Trung ương về phát triển khoa học, công nghệ, đổi mới sáng tạo và "
                "chuyển đổi số họp phiên thứ 4", "bcd-tw-phien-4"),
               ("Tỉnh ủy họp phiên thường kỳ tháng 10", "tinh-uy-thuong-ky"))
    return PortalArticle(
        slug=slug, site=site, section=section or "thoi-su", title=titles[variant % len(titles)],
        published=published, author=["Minh An – Thu Hà", "Quốc Bảo", "Lê Hằng – Văn Đức",
                                     "Hoàng Nam"][variant % 4],
        sapo=lead, paragraphs=tuple(_FOLLOW_UP[variant % 3:] + _FOLLOW_UP[:variant % 3]),
        captions=(f"Quang cảnh phiên họp tại điểm cầu {site}.",), related=related,
        tags=("chuyển đổi số", "phiên họp"),
        labels=({"body": body, "role": "report", "number": number, "period": None,
                 "date": day.isoformat()},))


def next_session_number(articles: list[PortalArticle], body: str) -> int:
    """One more than the highest numbered session of ``body`` the articles mention."""
    numbers = [label.get("number") or 0 for a in articles for label in a.labels
               if label.get("body") == body and label.get("period") is None]
    return max(numbers, default=0) + 1


def recently(now: datetime, minutes: int = 5) -> datetime:
    return (now - timedelta(minutes=minutes)).astimezone(VN_TZ).replace(second=0, microsecond=0)
