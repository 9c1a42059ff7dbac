"""A fast, deterministic stream of realistic Vietnamese news articles for
``benchmarks/scale.py``: what a national archive receives, item by item.

Item ``i`` of a stream is a pure function of ``(seed, i)`` (nothing is held between
items), so a build can stop and continue from any position and memory stays constant.
An item is one page as the crawl would store it (a :class:`core.models.Extracted` plus
its source, fetched URL, URL spellings and validators), of one of three kinds:

* ``new`` (~88 %): a new story of one of the generated sources — a sapo, 5-11
  paragraphs built from sentence templates over vocabularies (ministries, the 34
  provinces, committees, officials, communes, numbers, dates, quotes), 2-6 KB of text;
  about a quarter are linked under an AMP or mobile spelling too, a few are fetched
  through their AMP copy;
* ``copy`` (~10 %): a syndicated copy of an earlier story on another source: the same
  body with that outlet's own opening line, footer and byline (a near-duplicate, a new
  article; no two copies are the same text, so dxmon and the plain baseline hold the
  same number of articles);
* ``edit`` (~2 %): an earlier story stored again at its own URL with a paragraph
  rewritten and one added (a new version of that article).

Every text here was written for this file. Rare words (the communes of
``RARE_COMMUNES``) appear in about one story in a thousand each, so a "rare word"
query has a small, growing number of hits at every archive size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.models import Extracted

__all__ = ["Item", "item", "kind", "SOURCES", "QUERIES", "RARE_COMMUNES", "START"]

# the stream's clock: item i is stored 20 s after item i-1 (1M items ~ 7.7 months,
# about a tenth of national coverage's 30k articles a day: a busy year of the archive)
START = datetime(2025, 1, 1, 1, 0, tzinfo=UTC)
STEP_S = 20
COPY_PER_MILLE, EDIT_PER_MILLE = 100, 20

PROVINCES = ("Hà Nội", "Huế", "Lai Châu", "Điện Biên", "Sơn La", "Lạng Sơn", "Quảng Ninh",
             "Thanh Hóa", "Nghệ An", "Hà Tĩnh", "Cao Bằng", "Tuyên Quang", "Lào Cai",
             "Thái Nguyên", "Phú Thọ", "Bắc Ninh", "Hưng Yên", "Hải Phòng", "Ninh Bình",
             "Quảng Trị", "Đà Nẵng", "Quảng Ngãi", "Gia Lai", "Khánh Hòa", "Lâm Đồng",
             "Đắk Lắk", "Thành phố Hồ Chí Minh", "Đồng Nai", "Tây Ninh", "Cần Thơ",
             "Vĩnh Long", "Đồng Tháp", "Cà Mau", "An Giang")
MINISTRIES = ("Bộ Tài chính", "Bộ Xây dựng", "Bộ Công Thương", "Bộ Nông nghiệp và Môi trường",
              "Bộ Khoa học và Công nghệ", "Bộ Giáo dục và Đào tạo", "Bộ Y tế", "Bộ Nội vụ",
              "Bộ Tư pháp", "Bộ Văn hóa, Thể thao và Du lịch", "Bộ Ngoại giao",
              "Bộ Dân tộc và Tôn giáo")
COMMITTEES = ("Ủy ban Quốc gia về chuyển đổi số", "Ban Chỉ đạo phòng, chống thiên tai",
              "Ban Chỉ đạo các chương trình mục tiêu quốc gia", "Hội đồng nhân dân tỉnh",
              "Ban Chỉ đạo cải cách hành chính", "Ủy ban An toàn giao thông quốc gia",
              "Ban Chỉ đạo phát triển khoa học, công nghệ và đổi mới sáng tạo",
              "Hội đồng thi đua, khen thưởng", "Ban Chỉ đạo thực hiện Đề án 06")
ROLES = ("Chủ tịch Ủy ban nhân dân tỉnh", "Phó Chủ tịch Ủy ban nhân dân tỉnh", "Bộ trưởng",
         "Thứ trưởng", "Giám đốc Sở Tài chính", "Giám đốc Sở Khoa học và Công nghệ",
         "Bí thư Tỉnh ủy", "Phó Trưởng ban Thường trực", "Chánh Văn phòng",
         "Giám đốc Sở Nông nghiệp và Môi trường", "Chủ tịch Hội đồng nhân dân tỉnh")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
          "Dương", "Lý", "Phan", "Võ", "Trịnh", "Đinh", "Lương", "Mai", "Tạ")
MIDDLE = ("Văn", "Thị", "Minh", "Quốc", "Thanh", "Hữu", "Đức", "Ngọc", "Xuân", "Thu", "Hồng",
          "Công", "Bảo", "Kim")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hùng", "Khoa",
         "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phong", "Phúc", "Quân", "Sơn", "Tâm",
         "Thắng", "Thảo", "Trung", "Tuấn", "Vân", "Việt", "Yến", "Khánh")
COMMUNE_A = ("Tân", "Phú", "Bình", "An", "Hòa", "Long", "Đông", "Tây", "Thạnh", "Hưng",
             "Quang", "Yên", "Thái", "Vĩnh", "Đồng", "Hồng", "Kim", "Mỹ", "Xuân", "Trung")
COMMUNE_B = ("Lộc", "Hòa", "Phước", "Thịnh", "Sơn", "Lợi", "Thành", "Tiến", "Hiệp", "Lâm",
             "Khánh", "Điền", "Mỹ", "Hải", "Thuận", "Nghĩa", "Đức", "Phong", "Trạch", "Quý")
# rare words: each picked for about one story in a thousand
RARE_COMMUNES = ("Khuổi Nậm", "Pác Nặm", "Tà Xùa", "Sủng Máng", "Nậm Pồ", "Chiềng Khoong",
                 "Phìn Hồ", "Lũng Cú", "Mường Toong", "Sín Chéng", "Bản Giốc", "Ka Lăng")
OUTLETS = ("Báo Nhân Dân điện tử", "Cổng Thông tin điện tử Chính phủ", "Thông tấn xã Việt Nam",
           "Báo Điện tử Đảng Cộng sản", "Đài Tiếng nói Việt Nam", "Báo Tin tức",
           "Truyền hình Quốc hội", "Báo Pháp luật")
UNITS = ("tỷ đồng", "triệu đồng", "hồ sơ", "doanh nghiệp", "hộ dân", "học sinh", "km đường",
         "ha rừng", "thủ tục", "dự án", "tấn hàng hóa", "lượt khách")
SESSION_WORDS = ("phiên họp", "hội nghị", "cuộc họp", "kỳ họp", "buổi làm việc")
DAYPARTS = ("sáng", "chiều", "tối")

TOPICS = {
    # topic: (section, title templates, sentence templates)
    "chuyen-doi-so": ("cong-nghe", (
        "{prov} đẩy mạnh chuyển đổi số trong cải cách thủ tục hành chính",
        "{comm} họp {sess} thứ {n} năm {y}",
        "Dữ liệu dân cư phục vụ chuyển đổi số tại {prov}",
        "{min} triển khai nền tảng số dùng chung cho {n} đơn vị",
    ), (
        "Tỷ lệ hồ sơ trực tuyến toàn trình của {prov} đạt {p}%, tăng {q} điểm phần trăm so "
        "với cùng kỳ năm trước",
        "{comm} yêu cầu các địa phương hoàn thành việc kết nối cơ sở dữ liệu quốc gia về dân "
        "cư trước ngày {d}",
        "Toàn tỉnh đã cấp {k} tài khoản định danh điện tử mức độ hai cho người dân",
        "Nền tảng dùng chung được triển khai tới {n} xã, phường, trong đó có xã {commune}",
        "Hệ thống thông tin giải quyết thủ tục hành chính đã tiếp nhận {k} hồ sơ, {p}% được "
        "trả kết quả đúng hạn",
        "Các sở, ngành cần rà soát quy trình nội bộ để cắt giảm ít nhất {q}% thời gian xử lý",
        "Việc thanh toán không dùng tiền mặt trong trường học và bệnh viện tiếp tục được mở "
        "rộng",
        "Trung tâm điều hành thông minh của tỉnh kết nối với {n} camera và {k} thiết bị cảm "
        "biến",
    )),
    "dau-tu-cong": ("kinh-te", (
        "{prov} giải ngân vốn đầu tư công đạt {p}% kế hoạch",
        "{min} đôn đốc tiến độ {n} dự án trọng điểm",
        "Tháo gỡ vướng mắc mặt bằng cho dự án đường tỉnh qua xã {commune}",
    ), (
        "Đến hết tháng {m}, {prov} đã giải ngân {k} tỷ đồng vốn đầu tư công, đạt {p}% kế "
        "hoạch vốn được giao",
        "Nhiều dự án còn chậm do vướng mắc giải phóng mặt bằng và giá vật liệu xây dựng tăng",
        "{role} {person} đề nghị chủ đầu tư lập tiến độ chi tiết cho từng gói thầu",
        "Các đơn vị giải ngân chậm sẽ bị điều chuyển vốn sang dự án có khả năng hấp thụ tốt "
        "hơn",
        "Tuyến đường nối trung tâm huyện với xã {commune} dài {n} km, tổng mức đầu tư {k} tỷ "
        "đồng",
        "Tỉnh thành lập {n} tổ công tác đặc biệt để kiểm tra hiện trường các công trình",
    )),
    "nong-nghiep": ("dia-phuong", (
        "Nông dân xã {commune} được mùa cây ăn quả",
        "{prov} chủ động phòng, chống hạn mặn cho {k} ha lúa",
        "{min} hướng dẫn khung lịch thời vụ vụ đông xuân",
    ), (
        "Năm nay, bà con xã {commune} thu hoạch khoảng {k} tấn sản phẩm, giá bán ổn định",
        "Ngành nông nghiệp khuyến cáo người dân theo dõi dự báo thời tiết, chủ động nguồn "
        "nước tưới",
        "Hợp tác xã đã liên kết với {n} doanh nghiệp để bao tiêu sản phẩm theo chuỗi giá trị",
        "Diện tích trồng rừng mới trong năm đạt {k} ha, vượt {q}% kế hoạch",
        "{prov} hỗ trợ {k} triệu đồng cho mỗi mô hình sản xuất hữu cơ đạt chứng nhận",
    )),
    "y-te-giao-duc": ("xa-hoi", (
        "{prov} chuẩn bị cho năm học mới với {k} học sinh",
        "{min} kiểm tra công tác phòng bệnh mùa mưa tại {prov}",
        "Trạm y tế xã {commune} được đầu tư trang thiết bị mới",
    ), (
        "Toàn tỉnh có {k} học sinh các cấp, tăng {q}% so với năm học trước",
        "Ngành y tế đã tổ chức tiêm chủng mở rộng cho {k} trẻ em dưới năm tuổi",
        "Các trường học được yêu cầu bảo đảm đủ giáo viên, sách giáo khoa trước ngày {d}",
        "Bệnh viện tuyến tỉnh triển khai hồ sơ bệnh án điện tử tại {n} khoa, phòng",
        "Trạm y tế xã {commune} tiếp nhận trung bình {n} lượt khám mỗi ngày",
    )),
    "thien-tai": ("thoi-su", (
        "{prov} khẩn trương khắc phục hậu quả mưa lũ",
        "{comm} chỉ đạo ứng phó với áp thấp nhiệt đới",
        "Sạt lở đất tại xã {commune}, di dời {n} hộ dân",
    ), (
        "Mưa lớn kéo dài làm {n} tuyến đường bị chia cắt, {k} ha hoa màu bị ngập úng",
        "{comm} đề nghị các địa phương rà soát phương án sơ tán dân ở vùng trũng thấp",
        "Lực lượng chức năng đã di dời {n} hộ dân tại xã {commune} đến nơi an toàn",
        "Tỉnh xuất ngân sách {k} triệu đồng hỗ trợ khẩn cấp cho các gia đình bị thiệt hại",
        "Các hồ chứa thủy lợi được vận hành điều tiết theo đúng quy trình được phê duyệt",
    )),
}
GENERIC = (
    "Phát biểu tại {sess}, {role} {person} ghi nhận những kết quả mà các cơ quan, đơn vị đã "
    "đạt được trong thời gian qua",
    "Bên cạnh kết quả đạt được, vẫn còn một số hạn chế như nguồn lực còn phân tán, phối hợp "
    "giữa các ngành chưa chặt chẽ",
    "Theo báo cáo của {min}, trong {m} tháng đầu năm {y} đã có {k} {unit} được xử lý",
    "Các đại biểu đã thảo luận, đóng góp ý kiến vào dự thảo kế hoạch giai đoạn {y}-{y2}",
    "{role} {person} yêu cầu người đứng đầu các đơn vị chịu trách nhiệm về tiến độ được giao",
    "Tính đến ngày {d}, {prov} đã hoàn thành {p}% chỉ tiêu của cả năm",
    "Thời gian tới, tỉnh tiếp tục tăng cường kiểm tra, giám sát việc thực hiện các nhiệm vụ "
    "trọng tâm",
    "Dự kiến trong quý {qq}, {min} sẽ trình Chính phủ dự thảo nghị định sửa đổi, bổ sung",
    "Ủy ban nhân dân tỉnh {prov} giao Sở Tài chính tham mưu bố trí kinh phí {k} triệu đồng",
    "Hội nghị cũng đánh giá việc thực hiện nghị quyết số {n}/NQ-CP ngày {d}",
    "Các địa phương cần chủ động xây dựng kịch bản, không để bị động khi có tình huống phát "
    "sinh",
    "Đoàn công tác đã kiểm tra thực tế tại xã {commune} và làm việc với lãnh đạo địa phương",
    "Năm {y}, giá trị đạt {k} {unit}, tăng {q}% so với năm {y0}",
    "Nhiều ý kiến đề nghị đơn giản hóa hồ sơ, rút ngắn thời gian giải quyết cho người dân",
)
QUOTES = (
    "“Chúng ta phải làm thực chất, lấy sự hài lòng của người dân và doanh nghiệp làm thước "
    "đo”, {role} {person} nhấn mạnh.",
    "“Việc gì đã giao phải có người chịu trách nhiệm, có thời hạn và có kết quả cụ thể”, "
    "{role} {person} nói.",
    "“Năm nay khó khăn hơn, nhưng chỉ tiêu {p}% là hoàn toàn trong tầm tay nếu các ngành "
    "vào cuộc đồng bộ”, ông {person} cho biết.",
    "Bà {person}, một người dân ở xã {commune}, chia sẻ: “Giờ làm thủ tục nhanh hơn trước "
    "nhiều, không phải đi lại nhiều lần”.",
)
LEADS = (
    "({prov}) - {dp} ngày {d}, {comm} đã tổ chức {sess} để đánh giá kết quả thực hiện nhiệm vụ "
    "và triển khai kế hoạch thời gian tới.",
    "{dp} ngày {d}, tại {prov}, {min} phối hợp với Ủy ban nhân dân tỉnh tổ chức {sess} về {t}.",
    "Theo thông tin từ Ủy ban nhân dân tỉnh {prov}, đến nay {t} đã đạt nhiều kết quả tích cực.",
)
COPY_HEADS = ("({outlet}) - ", "Theo {outlet}, ", "[{outlet}] ")
COPY_FOOTS = ("{person} - Nguồn: {outlet}", "{person} (theo {outlet})",
              "{person} (tổng hợp từ {outlet})")


def _sources() -> tuple[tuple[str, str], ...]:
    """(source name, host) of the generated portals: every province's portal and
    newspaper, and the ministries'."""
    import unicodedata

    def slug(name: str) -> str:
        s = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
        s = "".join(c for c in s if not unicodedata.combining(c)).lower()
        return "-".join("".join(c if c.isalnum() else " " for c in s).split())

    out = []
    for p in PROVINCES:
        out += [(f"cong-{slug(p)}", f"{slug(p).replace('-', '')}.gov.vn"),
                (f"bao-{slug(p)}", f"bao{slug(p).replace('-', '')}.vn")]
    for m in MINISTRIES:
        s = slug(m.replace("Bộ ", ""))
        out.append((f"bo-{s}", f"{s.replace('-', '')}.gov.vn"))
    return tuple(out)


SOURCES = _sources()

# the search benchmark's queries: (label, query); labels say common/rare, with/without
# diacritics, words
QUERIES = (
    ("common, 1 word", "tỉnh"),
    ("common, 3 words", "chuyển đổi số"),
    ("common, 3 words, no diacritics", "chuyen doi so"),
    ("common, 2 words", "hồ sơ"),
    ("common, 2 words, no diacritics", "ho so"),
    ("mid, 2 words", "thiên tai"),
    ("mid, 3 words", "giải ngân vốn"),
    ("mid, 2 words, no diacritics", "giai ngan"),
    ("rare, 2 words", "Khuổi Nậm"),
    ("rare, 2 words, no diacritics", "khuoi nam"),
    ("rare, 2 words", "Sủng Máng"),
    ("rare, 3 words, no diacritics", "xa ta xua"),
)


@dataclass(frozen=True)
class Item:
    """One page to store: what the crawl's pipeline receives for it."""

    index: int
    kind: str  # new, copy, edit
    source: str
    extracted: Extracted
    variants: tuple[str, ...]  # other spellings linked (AMP, mobile)
    stored_at: datetime  # the store's clock for this item
    etag: str


def _mix(seed: int, i: int) -> int:
    """A 64-bit hash of (seed, i) (splitmix64): cheap, stateless item kinds."""
    z = (seed * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    return z ^ (z >> 31)


def kind(seed: int, i: int) -> str:
    if i < 50:  # the first items are stories: copies and edits need something before them
        return "new"
    r = _mix(seed, i) % 1000
    return "copy" if r < COPY_PER_MILLE else "edit" if r < COPY_PER_MILLE + EDIT_PER_MILLE \
        else "new"


def _earlier_story(seed: int, i: int, window: int) -> int:
    """A ``new`` item among the ``window`` before ``i`` (copies and edits are of recent
    stories, as syndication and corrections are)."""
    j = i - 1 - (_mix(seed + 1, i) % min(i, window))
    while kind(seed, j) != "new":
        j -= 1
    return j


class _Story:
    """The draws of one story: everything its text, title and URL are made of."""

    def __init__(self, seed: int, j: int):
        rng = self.rng = random.Random(seed * 1_000_003 + j)
        self.j = j
        self.source, self.host = SOURCES[int(rng.random() * len(SOURCES))]
        self.topic = rng.choice(tuple(TOPICS))
        self.prov = rng.choice(PROVINCES)
        self.published = START + timedelta(seconds=STEP_S * j - rng.randint(300, 3600))

    def person(self) -> str:
        x = self.rng.random
        return (f"{FAMILY[int(x() * len(FAMILY))]} {MIDDLE[int(x() * len(MIDDLE))]} "
                f"{GIVEN[int(x() * len(GIVEN))]}")

    def commune(self) -> str:
        x = self.rng.random
        if x() < 0.0005:  # about one story in a thousand names a rare commune
            return RARE_COMMUNES[int(x() * len(RARE_COMMUNES))]
        return f"{COMMUNE_A[int(x() * len(COMMUNE_A))]} {COMMUNE_B[int(x() * len(COMMUNE_B))]}"

    def slots(self) -> _Slots:
        """Slot values for one paragraph, each drawn only when a template asks for it."""
        return _Slots(self)

    def title(self) -> str:
        templates = TOPICS[self.topic][1]
        return self.rng.choice(templates).format_map(self.slots())

    def paragraphs(self) -> list[str]:
        r = self.rng
        topical = TOPICS[self.topic][2]
        out = [r.choice(LEADS).format_map(self.slots())]
        for _ in range(5 + int(r.random() * 7)):  # 5-11 paragraphs: 2-6 KB of text
            s = self.slots()
            n = 2 + int(r.random() * 4)
            picked = r.sample(topical, min(n - 1, len(topical))) + [r.choice(GENERIC)]
            out.append(" ".join(t.format_map(s) + "." for t in picked))
            if r.random() < 0.12:
                out.append(r.choice(QUOTES).format_map(s))
        return out


class _Slots(dict):
    """A template's slot values, drawn on first use (a paragraph's sentences share them)."""

    def __init__(self, story: _Story):
        super().__init__()
        self.s, self.r, self.y = story, story.rng, story.published.year

    def __missing__(self, key: str):
        value = self[key] = getattr(self, "_" + key)()
        return value

    def _int(self, low: int, count: int) -> int:
        return low + int(self.r.random() * count)

    def _pick(self, options: tuple):
        return options[int(self.r.random() * len(options))]

    def _prov(self):
        return self.s.prov if self.r.random() < 0.7 else self._pick(PROVINCES)

    def _min(self):
        return self._pick(MINISTRIES)

    def _comm(self):
        return self._pick(COMMITTEES)

    def _role(self):
        return self._pick(ROLES)

    def _person(self):
        return self.s.person()

    def _commune(self):
        return self.s.commune()

    def _sess(self):
        return self._pick(SESSION_WORDS)

    def _unit(self):
        return self._pick(UNITS)

    def _n(self):
        return self._int(2, 58)

    def _k(self):
        return f"{self._int(1, 999)}.{self._int(100, 900)}"

    def _p(self):
        return f"{self._int(40, 60)},{self._int(0, 10)}"

    def _q(self):
        return self._int(3, 32)

    def _m(self):
        return self._int(2, 10)

    def _qq(self):
        return self._pick(("I", "II", "III", "IV"))

    def _y(self):
        return self.y

    def _y0(self):
        return self.y - 1

    def _y2(self):
        return self.y + 5

    def _dp(self):
        return self._pick(DAYPARTS).capitalize()

    def _d(self):
        return f"{self._int(1, 28)}/{self._int(1, 12)}/{self.y}"

    def _t(self):
        return self._pick(("chuyển đổi số", "cải cách hành chính", "đầu tư công",
                           "xây dựng nông thôn mới", "phòng, chống thiên tai"))


def _url(host: str, section: str, j: int, title: str) -> str:
    from core.text import fold

    words = "".join(c if c.isalnum() else " " for c in fold(title).lower()).split()
    return f"https://{host}/{section}/{'-'.join(words[:12])}-{700_000_000 + j}.htm"


def _story(seed: int, j: int) -> tuple[_Story, str, str, list[str], str]:
    s = _Story(seed, j)
    title = s.title()
    paragraphs = s.paragraphs()
    author = s.person()
    url = _url(s.host, TOPICS[s.topic][0], j, title)
    return s, title, url, paragraphs, author


def item(seed: int, i: int) -> Item:
    """Item ``i`` of the stream of ``seed`` (a pure function: any order, any process)."""
    k = kind(seed, i)
    stored_at = START + timedelta(seconds=STEP_S * i)
    etag = f'"{_mix(seed + 2, i):x}"'
    if k == "new":
        s, title, url, paragraphs, author = _story(seed, i)
        variants: tuple[str, ...] = ()
        fetched = url
        r = _mix(seed + 3, i) % 100
        amp = url.replace(f"https://{s.host}/", f"https://{s.host}/amp/")
        mobile = url.replace("https://", "https://m.")
        if r < 15:
            variants = (amp,)
        elif r < 25:
            variants = (mobile,)
        elif r < 30:  # fetched through its AMP copy, whose canonical link names the page
            fetched = amp
        ext = Extracted(url=fetched, canonical_url=url, title=title, text="\n\n".join(paragraphs),
                        published_at=s.published, author=author, site_name=s.source,
                        related=())
        return Item(i, k, s.source, ext, variants, stored_at, etag)
    if k == "copy":
        j = _earlier_story(seed, i, 3000)
        s, title, _, paragraphs, _ = _story(seed, j)
        rng = random.Random(seed * 7_000_003 + i)
        source, host = SOURCES[int(rng.random() * len(SOURCES))]
        if source == s.source:
            source, host = SOURCES[(SOURCES.index((source, host)) + 1) % len(SOURCES)]
        outlet = rng.choice(OUTLETS)
        s.rng = rng  # the copy's own draws from here: its byline is its outlet's writer
        person = s.person()
        head = rng.choice(COPY_HEADS).format(outlet=outlet)
        foot = rng.choice(COPY_FOOTS).format(outlet=outlet, person=person)
        text = "\n\n".join([head + paragraphs[0], *paragraphs[1:], foot])
        url = _url(host, TOPICS[s.topic][0], i, title)
        ext = Extracted(url=url, canonical_url=url, title=title, text=text,
                        published_at=s.published + timedelta(minutes=rng.randint(20, 300)),
                        author=person, site_name=source)
        return Item(i, k, source, ext, (), stored_at, etag)
    # an edit: the story's paragraph rewritten and a paragraph added, at its own URL
    j = _earlier_story(seed, i, 5000)
    s, title, url, paragraphs, author = _story(seed, j)
    extra = _Story(seed + 5, i)
    at = 1 + _mix(seed + 4, i) % (len(paragraphs) - 1)
    paragraphs[at] = extra.paragraphs()[1]
    paragraphs.append(f"Cập nhật lúc {stored_at.hour:02d}:{stored_at.minute:02d}: "
                      + extra.paragraphs()[1])
    ext = Extracted(url=url, canonical_url=url, title=title, text="\n\n".join(paragraphs),
                    published_at=s.published, author=author, site_name=s.source)
    return Item(i, k, s.source, ext, (), stored_at, etag)
