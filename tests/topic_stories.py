"""Stories for the topic-watch tests, written for them (not from any seed): one story
told by several outlets in near-identical words (a syndicated piece with each outlet's
own lead and byline), and other stories that match a topic, or nothing."""

from __future__ import annotations

from datetime import datetime

from testsupport.content import PortalArticle

# The shared body of the cyber-security drill story: every outlet runs these paragraphs.
DRILL_BODY = (
    "Cuộc diễn tập được tổ chức theo hình thức thực chiến trên hệ thống thông tin của tỉnh, "
    "với kịch bản nhóm tin tặc giả định tấn công mã hóa dữ liệu tại cổng dịch vụ công và hệ "
    "thống quản lý văn bản điều hành. Các đội ứng cứu phải phát hiện, khoanh vùng và khôi "
    "phục hệ thống trong thời gian ngắn nhất.",
    "Tham gia diễn tập có hơn một trăm cán bộ kỹ thuật đến từ các sở, ngành, doanh nghiệp "
    "viễn thông và ngân hàng trên địa bàn. Ban tổ chức chia lực lượng thành đội phòng thủ, "
    "đội tấn công giả định và tổ giám sát để đánh giá khả năng phối hợp giữa các đơn vị.",
    "Theo đánh giá của ban tổ chức, các đội đã xử lý thành công phần lớn tình huống, khôi "
    "phục dữ liệu từ bản sao lưu và đưa cổng dịch vụ công hoạt động trở lại sau chưa đầy "
    "bốn giờ. Một số đơn vị còn lúng túng khi phải báo cáo sự cố theo đúng quy trình.",
    "Phát biểu bế mạc, đại diện lãnh đạo tỉnh đề nghị các cơ quan rà soát lại phương án bảo "
    "đảm an ninh mạng, bố trí đủ nhân lực chuyên trách, kiểm tra định kỳ việc sao lưu dữ "
    "liệu và tổ chức diễn tập thường xuyên hơn trong những năm tới.",
    "Dịp này, ban tổ chức cũng trao giấy khen cho ba đội có thành tích xuất sắc và công bố "
    "bộ tài liệu hướng dẫn xử lý sự cố dành cho cán bộ phụ trách công nghệ thông tin ở cấp "
    "huyện, cấp xã.",
)

DRILL_LEADS = {
    "thanhhoa-tv": ("Sáng nay, Sở Khoa học và Công nghệ phối hợp với Công an tỉnh tổ chức diễn "
                    "tập ứng cứu sự cố an ninh mạng năm nay.", "Minh Tâm"),
    "hagiang-tv": ("Trong hai ngày qua, tỉnh tổ chức cuộc diễn tập ứng cứu sự cố an ninh mạng "
                   "quy mô lớn nhất từ trước đến nay.", "Đức Thắng"),
    "hanoi-portal": ("Diễn tập ứng cứu sự cố an ninh mạng vừa được tổ chức với sự tham gia của "
                     "nhiều lực lượng.", "Thu Trang"),
    "chinhphu-news": ("Một địa phương vừa hoàn thành diễn tập ứng cứu sự cố an ninh mạng với "
                      "kịch bản tấn công mã hóa dữ liệu.", "Hải Yến"),
}

TRAINING = (
    "Khóa học kéo dài năm ngày, giúp học viên nhận biết thư điện tử giả mạo, đặt mật khẩu "
    "mạnh, sử dụng xác thực hai lớp và báo cáo kịp thời khi máy tính có dấu hiệu bị xâm nhập.",
    "Giảng viên là các chuyên gia của trung tâm giám sát an ninh mạng quốc gia, trực tiếp "
    "hướng dẫn thực hành trên máy tính được cài sẵn các tình huống lừa đảo thường gặp.",
    "Kết thúc khóa học, các học viên làm bài kiểm tra và nhận chứng chỉ; những người chưa "
    "đạt sẽ được bố trí học lại vào đợt sau.",
)

OLD_COURSE = (
    "Lớp tập huấn do Sở Thông tin và Truyền thông chủ trì, mời giảng viên từ một trường đại "
    "học kỹ thuật về trình bày các nguy cơ mất an ninh mạng đối với hệ thống một cửa điện tử.",
    "Các học viên được hướng dẫn cách cập nhật bản vá phần mềm, phân quyền tài khoản và lưu "
    "trữ hồ sơ điện tử an toàn tại bộ phận tiếp nhận và trả kết quả.",
)

HARVEST = (
    "Những ngày này, trên các cánh đồng của huyện, bà con nông dân khẩn trương thu hoạch lúa "
    "vụ chiêm xuân khi thời tiết thuận lợi, nắng ráo.",
    "Năng suất ước đạt hơn sáu tấn mỗi héc-ta, cao hơn vụ trước nhờ sử dụng giống mới và "
    "áp dụng cơ giới hóa trong tất cả các khâu từ làm đất đến thu hoạch.",
    "Ngành nông nghiệp khuyến cáo bà con thu hoạch đến đâu làm đất đến đó để kịp gieo cấy "
    "vụ mùa đúng khung thời vụ.",
)

EXPRESSWAY = (
    "Tuyến đường bộ cao tốc có chiều dài gần năm mươi ki-lô-mét, bốn làn xe, được đầu tư "
    "bằng vốn ngân sách nhà nước và dự kiến hoàn thành trong vòng ba năm.",
    "Khi đưa vào khai thác, tuyến đường sẽ rút ngắn thời gian di chuyển giữa hai tỉnh còn "
    "khoảng bốn mươi phút, mở ra dư địa phát triển cho các khu công nghiệp dọc tuyến.",
    "Chủ đầu tư cam kết bảo đảm chất lượng, an toàn lao động và vệ sinh môi trường trong quá "
    "trình thi công.",
)


def drill(site: str, published: datetime, n: int) -> PortalArticle:
    """The drill story as ``site`` runs it (lead, byline and title its own)."""
    lead, author = DRILL_LEADS[site]
    titles = ["Diễn tập ứng cứu sự cố an ninh mạng quy mô lớn",
              "Hơn 100 cán bộ kỹ thuật diễn tập ứng cứu sự cố an ninh mạng",
              "Diễn tập thực chiến bảo đảm an ninh mạng cho cổng dịch vụ công",
              "Thực chiến ứng cứu sự cố an ninh mạng: tấn công mã hóa dữ liệu giả định"]
    return PortalArticle(slug=f"dien-tap-ung-cuu-su-co-an-ninh-mang-{site}", site=site,
                         section="thoi-su", title=titles[n % 4], published=published,
                         author=author, sapo=lead, paragraphs=DRILL_BODY)


def training(site: str, published: datetime, slug: str = "boi-duong-ky-nang-an-ninh-mang",
             *, cadres: int = 80, paragraphs: tuple[str, ...] = TRAINING) -> PortalArticle:
    """A training course on the same subject as the drill (another story)."""
    return PortalArticle(slug=slug, site=site, section="thoi-su",
                         title="Bồi dưỡng kỹ năng an ninh mạng cho cán bộ cấp xã",
                         published=published, author="Ngọc Lan",
                         sapo=f"Hơn {cadres} cán bộ cấp xã tham gia khóa bồi dưỡng kỹ năng bảo "
                              "đảm an ninh mạng khi làm việc trên môi trường số.",
                         paragraphs=paragraphs)


def harvest(site: str, published: datetime) -> PortalArticle:
    return PortalArticle(slug="nong-dan-thu-hoach-lua-chiem-xuan", site=site, section="thoi-su",
                         title="Nông dân thu hoạch lúa chiêm xuân được mùa", published=published,
                         author="Văn Hùng", sapo="Lúa chiêm xuân năm nay được mùa, được giá.",
                         paragraphs=HARVEST)


def expressway(site: str, published: datetime) -> PortalArticle:
    return PortalArticle(slug="khoi-cong-tuyen-duong-cao-toc-lien-tinh", site=site,
                         section="thoi-su", title="Khởi công tuyến đường cao tốc liên tỉnh",
                         published=published, author="Quang Minh",
                         sapo="Sáng nay, tuyến đường cao tốc nối hai tỉnh chính thức được "
                              "khởi công.", paragraphs=EXPRESSWAY)


TOPICS = """
[[topic]]
id = "an-ninh-mang"
name = "An ninh mạng"
query = "an ninh mạng"

[[topic]]
id = "cao-toc"
name = "Đường cao tốc"
query = "cao toc"
min_chars = 200
"""


def hook(receiver) -> str:
    """A webhook channel that takes session alerts, topic stories and digests."""
    return (f'[[notify]]\nkind = "webhook"\nurl = "{receiver.url}"\nretry_base = "1s"\n'
            'events = ["session.*", "topic.match", "digest"]\n')


def topic_hits(receiver) -> list[dict]:
    return [h.json for h in receiver.delivered if h.json.get("event") == "topic.match"]


def payload(hit: dict) -> dict:
    return hit.get("payload", hit)
