"""The pages' labels in Vietnamese (the default) and English (``?lang=en`` or
``[web] lang = "en"``). Data is never translated: titles, evidence and outlets are
shown as the publishers wrote them."""

from __future__ import annotations

__all__ = ["LABELS", "LANGS", "labels"]

LANGS = ("vi", "en")

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "app": "dxmon", "sessions": "Phiên họp", "search": "Tìm kiếm", "sources": "Nguồn tin",
        "alerts": "Cảnh báo", "no_number": "không số", "number": "Số", "period": "Năm",
        "date": "Ngày", "outlets": "Số báo đưa tin", "first_report": "Tin đầu tiên",
        "evidence": "Câu dẫn chứng", "upcoming": "Sắp diễn ra", "expected": "Dự kiến",
        "body": "Cơ quan", "year": "Năm", "all": "Tất cả", "filter": "Lọc",
        "session": "Phiên họp", "mentions": "Các bài nhắc đến", "archived": "Bản lưu",
        "original": "Bản gốc", "channel": "Kênh", "state": "Trạng thái",
        "delivery_id": "Mã gửi", "attempts": "Số lần gửi", "corrections": "Đính chính",
        "none": "Không có", "query": "Từ khóa", "source": "Nguồn", "from": "Từ ngày",
        "to": "Đến ngày", "reports_session": "Có đưa tin phiên họp", "next": "Trang sau",
        "results": "Kết quả", "no_results": "Không tìm thấy bài nào",
        "title": "Tiêu đề", "author": "Tác giả", "published": "Ngày đăng",
        "first_seen": "Lưu lần đầu", "last_seen": "Thấy lần cuối", "aliases": "Các địa chỉ",
        "duplicates": "Bản sao ở báo khác", "versions": "Các phiên bản",
        "diff": "Thay đổi", "text": "Nội dung", "last_crawl": "Lần thu thập cuối",
        "duration": "Thời gian", "pages": "Trang", "new_articles": "Bài mới",
        "errors": "Lỗi", "per_day": "Bài mỗi ngày (30 ngày)", "robots": "robots.txt",
        "health": "Tình trạng", "healthy": "bình thường", "unhealthy": "có sự cố",
        "since": "từ", "last_good_crawl": "lần thu thập tốt gần nhất",
        "hosts_held": "Máy chủ đang tạm dừng", "reason": "Lý do", "until": "Đến",
        "status": "Trạng thái", "pending": "Đang chờ", "sending": "Đang gửi",
        "sent": "Đã gửi", "failed": "Đã bỏ cuộc", "last_error": "Lỗi cuối",
        "next_attempt": "Lần thử tiếp", "resend": "Gửi lại", "kind": "Loại",
        "report": "đưa tin", "preview": "báo trước", "reference": "nhắc lại",
        "meeting": "hội nghị", "never": "chưa bao giờ", "articles": "Số bài",
        "sessions_of": "Phiên họp", "not_found": "Không tìm thấy",
        "forbidden": "Không được phép", "error": "Lỗi", "crawl_delay": "Crawl-delay",
        "robots_forbidden": "URL bị cấm", "previews": "bài báo trước",
        "resent": "Cảnh báo đã được đưa lại vào hàng đợi", "language": "English",
        "feeds": "Nguồn cấp", "session_no": "Phiên họp thứ", "of_year": "năm", "crawl_now": "Thu thập ngay",
        "crawling": "Đang thu thập", "kind_session": "phiên mới",
        "kind_correction": "đính chính", "crawl_started": "Đã bắt đầu thu thập",
    },
    "en": {
        "app": "dxmon", "sessions": "Sessions", "search": "Search", "sources": "Sources",
        "alerts": "Alerts", "no_number": "unnumbered", "number": "No.", "period": "Year",
        "date": "Date", "outlets": "Outlets", "first_report": "First report",
        "evidence": "Evidence", "upcoming": "Upcoming", "expected": "Expected",
        "body": "Body", "year": "Year", "all": "All", "filter": "Filter",
        "session": "Session", "mentions": "Mentions", "archived": "Archived copy",
        "original": "Original", "channel": "Channel", "state": "State",
        "delivery_id": "Delivery id", "attempts": "Attempts", "corrections": "Corrections",
        "none": "None", "query": "Words", "source": "Source", "from": "From",
        "to": "To", "reports_session": "Reports a session", "next": "Next page",
        "results": "Results", "no_results": "No article found",
        "title": "Title", "author": "Byline", "published": "Published",
        "first_seen": "First seen", "last_seen": "Last seen", "aliases": "URLs",
        "duplicates": "Copies at other outlets", "versions": "Versions",
        "diff": "Changes", "text": "Text", "last_crawl": "Last crawl",
        "duration": "Took", "pages": "Pages", "new_articles": "New articles",
        "errors": "Errors", "per_day": "Articles per day (30 days)", "robots": "robots.txt",
        "health": "Health", "healthy": "healthy", "unhealthy": "unhealthy",
        "since": "since", "last_good_crawl": "last good crawl",
        "hosts_held": "Hosts held back", "reason": "Reason", "until": "Until",
        "status": "Status", "pending": "Pending", "sending": "Sending",
        "sent": "Sent", "failed": "Given up", "last_error": "Last error",
        "next_attempt": "Next attempt", "resend": "Resend", "kind": "Kind",
        "report": "report", "preview": "preview", "reference": "reference",
        "meeting": "meeting", "never": "never", "articles": "Articles",
        "sessions_of": "Sessions", "not_found": "Not found",
        "forbidden": "Forbidden", "error": "Error", "crawl_delay": "Crawl-delay",
        "robots_forbidden": "URLs forbidden", "previews": "previews",
        "resent": "The alert is queued again", "language": "Tiếng Việt",
        "feeds": "Feeds", "session_no": "Session", "of_year": "of", "crawl_now": "Crawl now",
        "crawling": "Crawling", "kind_session": "new session",
        "kind_correction": "correction", "crawl_started": "Crawl started",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` (Vietnamese for anything unknown)."""
    return LABELS.get(lang, LABELS["vi"])
