"""Real page weight for the test portals: what a portal wraps around every page.

The templates in :mod:`testsupport.templates` carry the furniture the extractor must
recognise, in a few kilobytes. A real portal page is 50–300 KB (the scrapinghub
benchmark's pages: median 114 KB): inline styles and scripts (ad slots, analytics),
a mega-menu, "Tin mới" and video side columns, banners, a footer of addresses and
links to other government sites. :func:`add_chrome` adds that weight (about 90 KB,
~190 links) to a page so throughput is measured on pages that cost what real ones
cost to parse, extract and mine for links. It is used with ``PortalWeb(weight="real")``;
the tests' portals stay light.

Every link it adds is either an article of the same site (the "Tin mới" column: known
URLs, as on a real portal) or off-site: nothing it adds leads the crawler to a page
the portal does not serve.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from html import escape as e

__all__ = ["add_chrome"]

_PROVINCES = ("Hà Giang", "Tuyên Quang", "Cao Bằng", "Lạng Sơn", "Lào Cai", "Yên Bái", "Thái Nguyên",
              "Bắc Kạn", "Phú Thọ", "Bắc Giang", "Quảng Ninh", "Hải Phòng", "Hải Dương",
              "Hưng Yên", "Thái Bình", "Nam Định", "Ninh Bình", "Hà Nam", "Thanh Hóa", "Nghệ An",
              "Hà Tĩnh", "Quảng Bình", "Quảng Trị", "Huế", "Đà Nẵng", "Quảng Nam", "Quảng Ngãi",
              "Bình Định", "Phú Yên", "Khánh Hòa", "Ninh Thuận", "Bình Thuận", "Kon Tum",
              "Gia Lai", "Đắk Lắk", "Đắk Nông", "Lâm Đồng", "Bình Phước", "Tây Ninh",
              "Bình Dương", "Đồng Nai", "Bà Rịa - Vũng Tàu", "Long An", "Tiền Giang", "Bến Tre",
              "Trà Vinh", "Vĩnh Long", "Đồng Tháp", "An Giang", "Kiên Giang", "Cần Thơ",
              "Hậu Giang", "Sóc Trăng", "Bạc Liêu", "Cà Mau")
_MENU = ("Thời sự", "Chính trị", "Kinh tế", "Xã hội", "Văn hóa", "Thể thao", "Pháp luật",
         "Giáo dục", "Y tế", "Quốc phòng", "Nông nghiệp", "Du lịch")
_SUB = ("Trong tỉnh", "Trong nước", "Quốc tế", "Phóng sự", "Ảnh", "Video", "Podcast", "Bình luận")


def _slug(text: str) -> str:
    import unicodedata

    ascii_ = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_ = "".join(ch for ch in ascii_ if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")


@lru_cache(maxsize=16)
def _parts(site: str) -> tuple[str, str, str]:
    """(head, top, bottom) of ``site``'s chrome; fixed per site, so cached."""
    rng = random.Random(f"chrome-{site}")
    rules = "\n".join(
        f".{rng.choice(['box', 'col', 'item', 'nav', 'ads', 'w'])}-{i} {{ margin: {i % 17}px "
        f"{i % 11}px; padding: {i % 7}px; color: #{rng.randrange(0x1000000):06x}; "
        f"font-size: {12 + i % 9}px; }}" for i in range(260))
    slots = ",\n".join(
        f'{{"id": "div-gpt-ad-{rng.randrange(10**12)}-{i}", "size": [[{rng.choice([300, 728, 970])},'
        f' {rng.choice([90, 250, 600])}]], "zone": "{site}-{i % 12}", "refresh": {30 + i % 60}}}'
        for i in range(150))
    script = ("(function(w,d){var q=w.__q=w.__q||[];function t(n,v){q.push([n,v,+new Date])}"
              "for(var i=0;i<d.links.length;i++){d.links[i].addEventListener('click',function(ev)"
              "{t('click',ev.target.href)})}w.addEventListener('scroll',function(){t('scroll',"
              "w.scrollY)})})(window,document);\n") * 20
    head = (''.join(f'<link rel="stylesheet" href="/static/css/{n}.min.css?v=20261122">'
                    for n in ("bootstrap", "style", "menu", "responsive"))
            + f"<style>\n{rules}\n</style>\n"
            + f'<script>window.adSlots = [\n{slots}\n];</script>\n'
            + f"<script>{script}</script>\n"
            + '<script async src="https://www.googletagmanager.com/gtag/js?id=G-DXMON"></script>')
    menu = "".join(
        f'<li class="menu-item has-sub"><a href="javascript:void(0)" class="menu-toggle">{e(top)}'
        f'</a><ul class="sub-menu">'
        + "".join(f'<li><a href="#{_slug(top)}-{_slug(sub)}" data-cat="{_slug(sub)}">{e(sub)}</a>'
                  f"</li>" for sub in _SUB) + "</ul></li>" for top in _MENU)
    top = (f'<div class="topbar"><span class="today">Cổng thông tin điện tử</span>'
           f'<form class="search" action="https://www.google.com/search"><input name="q" '
           f'placeholder="Tìm kiếm"><button>Tìm</button></form></div>'
           f'<nav class="mega-menu"><ul>{menu}</ul></nav>'
           + "".join(f'<div class="banner banner-top-{i}"><a href="https://quangcao.example.vn/'
                     f'{site}/{i}" rel="nofollow"><img src="/ads/{i}.jpg" width="970" '
                     f'height="90" alt="Quảng cáo"></a></div>' for i in range(3)))
    links = "".join(f'<li><a href="https://{_slug(p).replace("-", "")}.gov.vn/" target="_blank">'
                    f"Cổng TTĐT tỉnh {e(p)}</a></li>" for p in _PROVINCES)
    options = "".join(f'<option value="https://{_slug(p).replace("-", "")}.gov.vn/">{e(p)}</option>'
                      for p in _PROVINCES)
    video = "".join(f'<div class="video-item"><a href="https://video.example.vn/{site}/{i}">'
                    f'<img src="/video/{i}.jpg" alt=""><span class="play"></span></a>'
                    f'<span class="duration">0{i % 9}:{10 + i * 3 % 50}</span></div>' for i in range(8))
    bottom = (f'<div class="box-video"><h3 class="box-title">Video</h3>{video}</div>'
              + "".join(f'<div class="banner banner-right-{i}"><a href="https://quangcao.example.vn/'
                        f'{site}/r{i}" rel="nofollow"><img src="/ads/r{i}.jpg" width="300" '
                        f'height="250" alt="Quảng cáo"></a></div>' for i in range(4))
              + f'<div class="footer-links"><h4>Liên kết website</h4><ul>{links}</ul>'
              f'<select onchange="window.open(this.value)">{options}</select></div>'
              '<div class="footer-info"><p>Cơ quan chủ quản: Ủy ban nhân dân tỉnh</p>'
              '<p>Giấy phép số 12/GP-TTĐT do Sở Thông tin và Truyền thông cấp</p>'
              '<p>Địa chỉ: số 1 đường Trung tâm, phường Trung tâm. Điện thoại: 0200 3800 000</p>'
              '<p>Ghi rõ nguồn khi phát hành lại thông tin từ cổng thông tin này.</p></div>'
              '<a href="#top" class="back-to-top">Đầu trang</a>')
    return head, top, bottom


def _latest(items: list[tuple[str, str]]) -> str:
    lis = "".join(f'<li class="news-item"><a href="{e(href, quote=True)}" class="thumb"><img '
                  f'src="/thumb/{i}.jpg" alt=""></a><a href="{e(href, quote=True)}" '
                  f'class="news-title">{e(title)}</a></li>' for i, (title, href) in enumerate(items))
    return f'<aside class="box-tin-moi sidebar"><h3 class="box-title">Tin mới</h3><ul>{lis}</ul></aside>'


_HEAD_END = re.compile(r"</head>", re.IGNORECASE)
_BODY_START = re.compile(r"<body[^>]*>", re.IGNORECASE)
_BODY_END = re.compile(r"</body>", re.IGNORECASE)


def add_chrome(html: str, site: str, latest: list[tuple[str, str]]) -> str:
    """``html`` with ``site``'s chrome around it; ``latest`` = (title, href) of the
    site's newest articles, for the "Tin mới" column."""
    head, top, bottom = _parts(site)
    html = _HEAD_END.sub(lambda m: head + m.group(0), html, count=1)
    html = _BODY_START.sub(lambda m: m.group(0) + top, html, count=1)
    return _BODY_END.sub(lambda m: _latest(latest) + bottom + m.group(0), html, count=1)
