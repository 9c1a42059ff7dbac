"""HTML templates of the five demo/test portals, in the shapes of the seed documents.

* ``thanhhoa-tv``: provincial broadcaster; hotline header, title, lead, byline line
  "Đình Hà – Xuân Trường" then "24/04/2024 19:46", "Ý kiến bạn đọc", "Tin cùng chuyên
  mục", "Đọc nhiều nhất".
* ``mst-portal``: ministry portal; "Thứ tư, 24/04/2024 - 10:30" above the title, bold
  lead, source line at the bottom, share bar, "Tin liên quan"; RSS feed.
* ``hagiang-tv``: old table layout in Windows-1258 declared only in a ``<meta>`` tag;
  station name and weather widget header; "18:54, 27/04/2022" under the title.
* ``hanoi-portal``: city portal; "19/07/2024 | 15:20", author after the text, AMP copies,
  tracking parameters in its own links; a sitemap.
* ``chinhphu-news``: government news; full metadata (Open Graph, ``article:published_time``
  with its offset, JSON-LD), byline with the photo credit inside a caption.
"""

from __future__ import annotations

from html import escape as e

from testsupport.content import PortalArticle

__all__ = ["render_article", "render_listing", "TEMPLATES"]

WEEKDAYS = ["Thứ hai", "Thứ ba", "Thứ tư", "Thứ năm", "Thứ sáu", "Thứ bảy", "Chủ nhật"]


def _paragraphs(a: PortalArticle) -> str:
    out = []
    for i, p in enumerate(a.paragraphs):
        out.append(f"<p>{e(p)}</p>")
        if i < len(a.captions):
            out.append(f'<figure class="image"><img src="/media/{a.id}-{i}.jpg" alt="">'
                       f"<figcaption>{e(a.captions[i])}</figcaption></figure>")
    return "\n".join(out)


def _links(items, href, cls: str, heading: str, tag="div") -> str:
    lis = "".join(f'<li><a href="{e(href(slug), quote=True)}">{e(title)}</a></li>'
                  for title, slug in items)
    return f'<{tag} class="{cls}"><h3>{heading}</h3><ul>{lis}</ul></{tag}>'


def _comments() -> str:
    return ('<div class="comment-box"><h3>Ý kiến bạn đọc</h3>'
            '<form method="post" action="/binh-luan"><textarea name="c"></textarea>'
            '<input name="ten" placeholder="Họ tên"><button>Gửi bình luận</button></form>'
            '<a class="more" href="#binh-luan">Xem thêm bình luận</a></div>')


def _share() -> str:
    return ('<div class="share-bar"><a href="#">Chia sẻ</a> <a href="#">Facebook</a> '
            '<a href="#">Zalo</a> <a href="#">In bài</a></div>')


def thanhhoa_article(a: PortalArticle, ctx) -> str:
    stamp = a.published.strftime("%d/%m/%Y %H:%M")
    return f"""<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>{e(a.title)} - Truyền hình Thanh Hóa</title></head><body>
<div class="top-hotline">Đường dây nóng: 0237 3721150</div>
<div class="menu"><a href="/">Trang chủ</a> <a href="/thoi-su.htm">Thời sự</a>
<a href="/kinh-te.htm">Kinh tế</a> <a href="/van-hoa.htm">Văn hóa</a></div>
<div class="main"><div class="detail">
<h1 class="title">{e(a.title)}</h1>
<div class="sapo"><p>{e(a.sapo)}</p></div>
<p class="byline">{e(a.author)}</p>
<p class="time">{stamp}</p>
<div class="content">{_paragraphs(a)}</div>
{_share()}
{_comments()}
{_links(a.related, ctx.related_href, "related-news", "Tin cùng chuyên mục")}
</div>
{_links(ctx.most_read, ctx.article_href, "most-read", "Đọc nhiều nhất", "aside")}
</div>
<div class="footer">Đài Phát thanh và Truyền hình Thanh Hóa. Đường dây nóng: 0237 3721150</div>
</body></html>"""


def mst_article(a: PortalArticle, ctx) -> str:
    d = a.published
    stamp = f"{WEEKDAYS[d.weekday()]}, {d:%d/%m/%Y} - {d:%H:%M}"
    return f"""<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{e(a.title)}</title><link rel="alternate" type="application/rss+xml" href="/rss/tin-tuc.rss"></head>
<body><div id="header"><span class="hotline">Hotline: 024 3943 7965</span>
<ul class="menu"><li><a href="/">Trang chủ</a></li><li><a href="/tin-tuc.html">Tin tức</a></li></ul></div>
<div class="breadcrumb"><a href="/">Trang chủ</a> / <a href="/{a.section}.html">Tin tức</a></div>
<div class="article">
<div class="date">{stamp}</div>
<h1>{e(a.title)}</h1>
<p class="lead"><strong>{e(a.sapo)}</strong></p>
{_paragraphs(a)}
<p class="source" style="text-align:right"><strong>{e(a.author)}</strong></p>
</div>
{_share()}
{_links(a.related, ctx.related_href, "tin-lien-quan", "Tin liên quan")}
{_links(ctx.most_read, ctx.article_href, "xem-nhieu", "Xem nhiều nhất", "aside")}
<div id="footer">Cổng thông tin điện tử Bộ Khoa học và Công nghệ</div></body></html>"""


def hagiang_article(a: PortalArticle, ctx) -> str:
    stamp = a.published.strftime("%H:%M, %d/%m/%Y")
    body = "".join(f"<p>{e(p)}</p>" for p in a.paragraphs)
    captions = "".join(f'<p align="center"><i>{e(c)}</i></p>' for c in a.captions)
    return f"""<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">
<title>{e(a.title)}</title></head><body>
<table width="980" class="header"><tr><td>Đài Phát thanh và Truyền hình Hà giang</td>
<td class="weather">• Hà Giang<br>oC</td></tr></table>
<table width="980"><tr><td width="680" valign="top">
<h1>{e(a.title)}</h1>
<div class="ngay">{stamp}</div>
<p><b>{e(a.sapo)}</b></p>
{captions}
{body}
<p align="right"><b>{e(a.author)}</b></p>
{_links(a.related, ctx.related_href, "tinlienquan", "Tin liên quan")}
</td><td width="300" valign="top">
{_links(ctx.most_read, ctx.article_href, "docnhieu", "Đọc nhiều nhất")}
<div class="lich"><a href="/lich-phat-song/{a.published:%Y-%m-%d}.html">Lịch phát sóng</a></div>
</td></tr></table></body></html>"""


def hanoi_article(a: PortalArticle, ctx) -> str:
    stamp = a.published.strftime("%d/%m/%Y | %H:%M")
    canonical = ctx.absolute(ctx.article_href(a.slug))
    amp = "" if ctx.amp else f'<link rel="amphtml" href="{e(ctx.amp_href(a.slug))}">'
    return f"""<!DOCTYPE html><html lang="vi"><head><meta charset="UTF-8">
<title>{e(a.title)} | Cổng TTĐT Hà Nội</title>
<link rel="canonical" href="{e(canonical)}">{amp}</head><body>
<header><div class="hotline">Đường dây nóng: 024 3825 3536</div>
<nav class="menu"><a href="/">Trang chủ</a> <a href="/tin-tuc/thoi-su/page/1">Thời sự</a></nav></header>
<main><article class="post">
<h1 class="post-title">{e(a.title)}</h1>
<div class="post-meta"><span>{stamp}</span></div>
<div class="post-sapo">{e(a.sapo)}</div>
<div class="post-content">{_paragraphs(a)}
<p class="author" style="text-align:right">{e(a.author)}</p></div>
<div class="tags">Từ khóa: {", ".join(e(t) for t in a.tags)}</div>
{_share()}
</article>
{_links(a.related, ctx.related_href, "related-posts", "Bài viết liên quan", "section")}
{_comments()}</main>
<footer>Cổng Giao tiếp điện tử thành phố Hà Nội</footer></body></html>"""


def chinhphu_article(a: PortalArticle, ctx) -> str:
    iso = a.published.isoformat()
    return f"""<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">
<title>{e(a.title)}</title>
<meta property="og:title" content="{e(a.title)}">
<meta property="og:type" content="article">
<meta property="article:published_time" content="{iso}">
<meta name="author" content="{e(a.author)}">
<meta name="description" content="{e(a.sapo)}">
<script type="application/ld+json">{{"@type": "NewsArticle", "datePublished": "{iso}"}}</script>
</head><body>
<div class="header-top"><span class="hotline">Đường dây nóng: 080 43162</span></div>
<div class="detail-page">
<div class="detail-time">{a.published:%d/%m/%Y %H:%M}</div>
<h1 class="detail-title">{e(a.title)}</h1>
<h2 class="detail-sapo">{e(a.sapo)}</h2>
<div class="detail-content">{_paragraphs(a)}</div>
<div class="detail-author">{e(a.author)}</div>
{_links(a.related, ctx.related_href, "box-related", "Tin liên quan")}
</div>
{_links(ctx.most_read, ctx.article_href, "box-most-read", "Đọc nhiều", "aside")}
<div class="footer">Báo điện tử Chính phủ</div></body></html>"""


TEMPLATES = {
    "thanhhoa-tv": thanhhoa_article,
    "mst-portal": mst_article,
    "hagiang-tv": hagiang_article,
    "hanoi-portal": hanoi_article,
    "chinhphu-news": chinhphu_article,
}


def render_article(a: PortalArticle, ctx) -> str:
    return TEMPLATES[a.site](a, ctx)


def render_listing(site: str, title: str, items: list[PortalArticle], ctx, *,
                   next_href: str | None, prev_href: str | None, extra_links: str = "") -> str:
    """A section page: teasers with links (relative and absolute), then pagination."""
    rows = []
    for i, a in enumerate(items):
        href = ctx.listing_href(a.slug, i)
        rows.append(f'<div class="item"><h3><a href="{e(href, quote=True)}">{e(a.title)}</a></h3>'
                    f'<span class="time">{a.published:%d/%m/%Y %H:%M}</span>'
                    f"<p>{e(a.sapo[:160])}</p></div>")
    pager = ""
    if prev_href:
        pager += f'<a class="prev" href="{e(prev_href, quote=True)}">Trang trước</a> '
    if next_href:
        pager += f'<a class="next" href="{e(next_href, quote=True)}">Trang sau</a>'
    charset = ('<meta http-equiv="Content-Type" content="text/html; charset=windows-1258">'
               if site == "hagiang-tv" else '<meta charset="utf-8">')
    return (f"<!DOCTYPE html><html><head>{charset}<title>{e(title)}</title></head><body>"
            f'<div class="hotline">Đường dây nóng</div><h1>{e(title)}</h1>'
            f'<div class="list">{"".join(rows)}</div><div class="pager">{pager}</div>'
            f"{extra_links}</body></html>")
