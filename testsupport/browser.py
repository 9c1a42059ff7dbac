"""A real browser on a real web view: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) and ``dxmon web`` started as a user starts it,
on an archive built by real crawls of the test portals.

* :func:`require_chromium` finds the system browser and driver, or skips the test on a
  developer's machine and FAILS it under ``CI=true`` (``.ci/run`` installs them), the
  same rule as :func:`testsupport.shared.require_shared`.
* :func:`start_chromium` starts the browser with the system chromedriver named
  explicitly. Selenium Manager (which would download a driver) is never asked: the
  Service path skips it, and :func:`_no_selenium_manager` makes any call to it an error.
* :func:`build_archive` crawls the portals twice with a webhook channel: the first crawl
  is the baseline (history, no alert), then a new session is reported, an article is
  edited (two versions), a hostile title and a preview appear, and the second crawl
  alerts once.
* :class:`WebServer` runs ``dxmon web --port P`` as a subprocess and waits for its port.

Fixtures, each built once per test module (import them into the module):
``browser_archive`` (the :class:`Archive`), ``web_view`` (the running :class:`WebServer`
on it) and ``chromium`` (the driver). A module using them marks itself
``pytest.mark.xdist_group(...)`` so one xdist worker runs it; ``browser_archive`` fails
if a second worker builds one anyway.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.models import VN_TZ
from testsupport.content import PortalArticle, next_session_number, recently, session_report
from testsupport.crawl import Crawl
from testsupport.portals import PortalWeb
from testsupport.receivers import WebhookReceiver, free_port

__all__ = ["CHROMIUM", "CHROMEDRIVER", "require_chromium", "start_chromium", "Archive",
           "build_archive", "WebServer", "screenshot", "browser_archive", "web_view",
           "chromium"]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("DXMON_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DXMON_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOTS = ROOT / "docs" / "screenshots"
BODY = "bcd-khcn-cds-da06"

# The article a user searches for without diacritics, then reads as two versions.
BRIDGE = PortalArticle(
    slug="khanh-thanh-cau-treo-dan-sinh-lung-phin", site="hagiang-tv", section="xa-hoi",
    title="Hà Giang khánh thành cầu treo dân sinh ở xã Lũng Phìn",
    published=datetime(2026, 11, 20, 9, 30, tzinfo=VN_TZ), author="Vàng Mí Sính",
    sapo=("Sáng nay, huyện Đồng Văn khánh thành cầu treo dân sinh bắc qua suối Lũng Phìn, "
          "cầu dài 80 mét, giúp hơn 300 hộ dân đi lại an toàn trong mùa mưa lũ."),
    paragraphs=(
        "Công trình do các doanh nghiệp trong tỉnh tài trợ, được khởi công từ đầu tháng 7. "
        "Trước đây, học sinh các thôn bên kia suối phải lội qua dòng nước chảy xiết để đến "
        "trường, nhiều hôm phải nghỉ học khi nước lên.",
        "Phát biểu tại buổi lễ, lãnh đạo huyện đề nghị chính quyền xã giao cho các thôn quản "
        "lý, bảo dưỡng cầu thường xuyên, nhất là trước mùa mưa.",
        "Dịp này, các nhà tài trợ cũng trao tặng 200 suất quà cho học sinh nghèo vượt khó của "
        "xã Lũng Phìn."),
    tags=("dân sinh", "giao thông"))
BRIDGE_QUERY = "cau treo lung phin"  # the title's words, typed without diacritics
BRIDGE_EDIT = {"sapo": BRIDGE.sapo.replace("cầu dài 80 mét", "cầu dài 96 mét")}

# A hostile page: its title holds markup that must be shown as text, never run.
HOSTILE_TITLE = "Cảnh giác trang giả mạo <script>alert(1)</script> cổng dịch vụ công"
HOSTILE = PortalArticle(
    slug="canh-giac-trang-gia-mao-cong-dich-vu-cong", site="mst-portal", section="thoi-su",
    title=HOSTILE_TITLE, published=datetime(2026, 11, 18, 15, 0, tzinfo=VN_TZ),
    author="Thu Trang",
    sapo=("Bộ Khoa học và Công nghệ cảnh báo người dân về các trang web giả mạo cổng dịch vụ "
          "công để đánh cắp thông tin cá nhân và tài khoản ngân hàng."),
    paragraphs=(
        "Các trang giả mạo thường có địa chỉ gần giống trang thật, giao diện sao chép gần như "
        "y hệt và yêu cầu người dùng nhập mã xác thực gửi về điện thoại.",
        "Người dân chỉ nên truy cập cổng dịch vụ công qua địa chỉ chính thức, không bấm vào "
        "đường dẫn lạ nhận được qua tin nhắn hay mạng xã hội."),
    tags=("an toàn thông tin",))


def require_chromium() -> tuple[Path, Path]:
    """The system Chromium and chromedriver; else skip here, or FAIL under ``CI=true``."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return CHROMIUM, CHROMEDRIVER
    what = (f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver; .ci/run does)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}: in CI the browser tests must run", pytrace=False)
    pytest.skip(f"{what} (in CI this fails)")


@contextlib.contextmanager
def _no_selenium_manager():
    """Selenium Manager downloads drivers and browsers: calling it here is a bug."""
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def refuse(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a driver: the system "
                             f"chromedriver at {CHROMEDRIVER} must be used")

    original = SeleniumManager.binary_paths
    SeleniumManager.binary_paths = refuse
    try:
        yield
    finally:
        SeleniumManager.binary_paths = original


def start_chromium(profile_dir: Path | str, *, width: int = 1280, height: int = 900):
    """Headless Chromium (new headless mode) at ``width`` x ``height``, its profile in
    ``profile_dir``; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for arg in ("--headless=new", f"--window-size={width},{height}",
                f"--user-data-dir={profile_dir}", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-gpu", "--lang=vi",
                # tests talk to 127.0.0.1 only: no background fetches, no other host resolves
                "--disable-background-networking", "--disable-component-update",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    if os.geteuid() == 0:  # Chromium's sandbox refuses to run as root
        options.add_argument("--no-sandbox")
    service = Service(executable_path=str(chromedriver), log_output=subprocess.DEVNULL)
    with _no_selenium_manager():
        driver = webdriver.Chrome(options=options, service=service)
    # a missing element is an assertion, not a wait: every wait is an explicit condition
    driver.implicitly_wait(0)
    driver.set_page_load_timeout(30)  # a page renders in < 1 s; 30 s bounds a hung server
    return driver


@contextlib.contextmanager
def chromium_session():
    """One browser with a throw-away profile, quit and removed on exit."""
    profile = tempfile.mkdtemp(prefix="dxmon-chromium-")
    driver = None
    try:
        driver = start_chromium(profile)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver, name: str) -> Path | None:
    """Save the viewport as ``docs/screenshots/<name>.png`` when ``DXMON_SCREENSHOTS=1``
    (so a CI run leaves the checkout clean)."""
    if os.environ.get("DXMON_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise AssertionError(f"Chromium could not save {path}")
    return path


# --- the archive -----------------------------------------------------------------------


@dataclass
class Archive:
    crawl: Crawl
    portals: PortalWeb
    receiver: WebhookReceiver
    number: int  # the new session of BODY, alerted on the second crawl
    report: PortalArticle  # its first report
    bridge_url: str
    hostile_url: str

    @property
    def config_path(self) -> Path:
        return self.crawl.config_path

    def article_id(self, url: str) -> int:
        (row,) = self.crawl.query("SELECT article_id FROM article_urls WHERE url = ?", [url])
        return row["article_id"]

    def session_id(self) -> int:
        (row,) = self.crawl.query("SELECT id FROM sessions WHERE body = ? AND number = ?",
                                  [BODY, self.number])
        return row["id"]


def build_archive(folder: Path, portals: PortalWeb, receiver: WebhookReceiver) -> Archive:
    """A real archive in ``folder``: two ``dxmon crawl`` runs of ``portals`` with a webhook
    channel to ``receiver``; returns once the new session's alert was received."""
    crawl = Crawl(portals, folder)
    crawl.write_config(extra=f'[[notify]]\nkind = "webhook"\nurl = "{receiver.url}"\n'
                             'retry_base = "1s"\n')
    now = datetime.now(VN_TZ)
    # published within the last two hours: the next crawl revisits it and sees the edit
    # (crawler.spiders.news.revisit_interval)
    portals.publish(BRIDGE.site, BRIDGE.edited(published=recently(now, 30)))
    portals.publish(HOSTILE.site, HOSTILE)
    crawl.dxmon("crawl")  # the baseline: the portals' history, archived without alerts

    number = next_session_number(portals.all_articles(), BODY)
    published = recently(now, 3)
    report = session_report("thanhhoa-tv", BODY, number, published.date(), published)
    portals.publish("thanhhoa-tv", report)
    portals.publish("chinhphu-news", session_report("chinhphu-news", BODY, number,
                                                    published.date(), recently(now, 1),
                                                    variant=1))
    tomorrow = now + timedelta(days=1)
    preview = session_report("hanoi-portal", BODY, number + 1, tomorrow.date(),
                             recently(now, 2)).edited(
        slug=f"lich-cong-tac-phien-hop-{number + 1}", labels=(),
        title="Lịch công tác của Thủ tướng tuần tới",
        sapo=(f"Ngày mai, Thủ tướng Chính phủ sẽ chủ trì phiên họp thứ {number + 1} của Ban "
              "Chỉ đạo của Chính phủ về phát triển khoa học, công nghệ, đổi mới sáng tạo, "
              "chuyển đổi số và Đề án 06."))
    portals.publish("hanoi-portal", preview)
    portals.edit(BRIDGE.site, BRIDGE.slug, **BRIDGE_EDIT)
    crawl.dxmon("crawl")
    receiver.wait_for(1)
    return Archive(crawl, portals, receiver, number, report,
                   bridge_url=portals.url(BRIDGE.site, BRIDGE.slug),
                   hostile_url=portals.url(HOSTILE.site, HOSTILE.slug))


# --- the web view ----------------------------------------------------------------------


class WebServer:
    """``dxmon web --config C --port P`` as a child process, as a user starts it."""

    def __init__(self, config_path: Path, *, port: int | None = None, cwd: Path | None = None,
                 extra_args: tuple[str, ...] = ()):
        self.config_path, self.port = config_path, port or free_port()
        self.cwd = cwd or config_path.parent
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.log = self.cwd / f"dxmon-web-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> WebServer:
        """Start and wait until the port accepts connections; fail with the child's log
        if it exits first or the port stays closed for ``timeout`` s (start-up is ~2 s:
        an import of Starlette and uvicorn on a loaded 2-core machine)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "monitor.cli", "web", "--config", str(self.config_path),
               "--port", str(self.port), *self.extra_args]
        with open(self.log, "wb") as log:
            # in the test run's process group: a Ctrl-C of pytest stops it too
            self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dxmon web exited {self.proc.returncode}:\n{self.output()}")
            with socket.socket() as s:
                s.settimeout(1.0)
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)  # polling a port: nothing to wait on but the next try
        self.stop()
        raise AssertionError(f"dxmon web did not open port {self.port} in {timeout} s:\n"
                             f"{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- fixtures (module-scoped: one archive, one server, one browser per module) ------


@pytest.fixture(scope="module")
def browser_archive(tmp_path_factory):
    require_chromium()  # before the crawls: a missing browser skips (or fails) at once
    _only_one_worker(tmp_path_factory)
    receiver = WebhookReceiver().start()
    try:
        with PortalWeb() as portals:
            yield build_archive(tmp_path_factory.mktemp("browser-archive"), portals, receiver)
    finally:
        receiver.stop()


@pytest.fixture(scope="module")
def web_view(browser_archive):
    with WebServer(browser_archive.config_path) as server:
        yield server


@pytest.fixture(scope="module")
def chromium():
    require_chromium()
    with chromium_session() as driver:
        yield driver


def _only_one_worker(tmp_path_factory) -> None:
    """Fail if a second xdist worker builds an archive: the browser tests were split,
    which quietly multiplies the crawls, servers and browsers by the workers."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    marker = tmp_path_factory.getbasetemp().parent / "dxmon-browser-archive"
    try:
        marker.mkdir()  # atomic: one worker wins
    except FileExistsError:
        pytest.fail("the browser tests were split across xdist workers: --dist loadgroup "
                    "(pyproject addopts) is not grouping them", pytrace=False)
