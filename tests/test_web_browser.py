"""The web view in a real browser: headless Chromium (Debian's, through its
chromium-driver) on ``dxmon web`` started as a subprocess, on an archive built by two
real crawls of the test portals (testsupport.browser.build_archive).

What a user checks: each page shows what it promises; a search typed without
diacritics finds the article and leads to it; a session leads to its report's archived
copy; an edited article shows its diff; a hostile title is shown as text and runs
nothing; ``?lang=en`` speaks English; no page holds an inline script and the CSP
refuses one injected later; "crawl now" posted from the sources page archives what was
just published, and the same form posted from another site is refused (CSRF).

One archive, one server and one browser for the whole module (built in ~25 s); every
wait is a condition (WebDriverWait), never a sleep. ``DXMON_SCREENSHOTS=1`` saves a
PNG of each page to docs/screenshots/. Without Chromium the module skips here and
FAILS under ``CI=true`` (.ci/run installs it).
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime
from urllib.parse import quote, urlsplit

import pytest

# the fixtures browser_archive, web_view and chromium: testsupport.browser (a plugin
# of tests/conftest.py)
from core.models import VN_TZ
from testsupport.browser import BODY, BRIDGE, BRIDGE_QUERY, HOSTILE_TITLE, screenshot
from testsupport.content import PortalArticle, recently
from testsupport.portals import SITES

# one worker builds the archive once and runs all of them (tests/conftest.py: ONE_WORKER)
WAIT_S = 20  # a page renders in well under a second; 20 s covers a loaded 2-core CI
NAV = {"/", "/search", "/sources", "/alerts"}


@pytest.fixture
def page(chromium, web_view):
    """Open a path of the web view and wait until its main content is there."""

    def open_(path: str):
        chromium.get(web_view.url + path)
        return wait_for(chromium, "main#content")

    return open_


def wait_for(driver, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)),
        message=f"{css} never appeared on {driver.current_url}")


def wait_url(driver, fragment: str) -> None:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(ec.url_contains(fragment),
                                        message=f"never reached {fragment}")


def wait_text(driver, css: str, text: str) -> None:
    """Until ``css`` shows ``text``: the element is looked up again at each try (the
    address may change before the new document replaces the old one, whose element
    then goes stale)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text),
        message=f"{css} never showed {text!r} on {driver.current_url}")


def css(driver, selector: str) -> list:
    return driver.find_elements("css selector", selector)


def nav_paths(driver) -> set[str]:
    return {urlsplit(a.get_attribute("href")).path for a in css(driver, "nav#nav a")}


def assert_no_dialog(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property raises when no dialog is open


# --- the pages ---------------------------------------------------------------------------


def test_sessions_home_shows_each_body_s_timeline_newest_first(chromium, page, browser_archive):
    page("/")
    screenshot(chromium, "sessions")
    assert chromium.find_element("css selector", "html").get_attribute("lang") == "vi"
    assert NAV <= nav_paths(chromium)
    timeline = chromium.find_element("css selector", f'section.timeline[data-body="{BODY}"]')
    shown = [int(li.get_attribute("data-session-id"))
             for li in timeline.find_elements("css selector", "li.session")]
    rows = browser_archive.crawl.query("SELECT id FROM sessions WHERE body = ? ORDER BY date DESC",
                               [BODY])
    assert shown == [r["id"] for r in rows]  # newest first
    new = timeline.find_element("css selector",
                                f'li.session[data-session-id="{browser_archive.session_id()}"]')
    assert f"{browser_archive.number}" in new.text
    assert "phiên họp" in new.find_element("css selector", "blockquote.evidence").text
    # the preview of tomorrow's session is shown apart, as upcoming
    upcoming = chromium.find_element("css selector", "section.upcoming")
    assert str(browser_archive.number + 1) in upcoming.text
    # ... and not as a session: a preview never makes one
    labels = [a.text for a in timeline.find_elements("css selector", "li.session > a")]
    assert labels and not [t for t in labels if f"thứ {browser_archive.number + 1}" in t], labels


def test_the_filters_keep_one_body_or_one_year(chromium, page, browser_archive):
    from selenium.webdriver.support.ui import Select

    page("/")
    form = chromium.find_element("css selector", "form#filters")
    Select(form.find_element("css selector", 'select[name="body"]')).select_by_value("ubqg-cds")
    form.submit()
    wait_url(chromium, "body=ubqg-cds")
    wait_for(chromium, "main#content")
    bodies = {s.get_attribute("data-body") for s in css(chromium, "section.timeline")}
    assert bodies == {"ubqg-cds"}
    assert css(chromium, "section.timeline li.session")
    # this year: only the session held today, whichever body
    page("/")
    year = browser_archive.report.published.year
    form = chromium.find_element("css selector", "form#filters")
    Select(form.find_element("css selector", 'select[name="year"]')).select_by_value(str(year))
    form.submit()
    wait_url(chromium, f"year={year}")
    wait_for(chromium, "main#content")
    shown = [li.get_attribute("data-session-id") for li in css(chromium, "li.session")]
    assert shown == [str(browser_archive.session_id())]


def test_a_session_leads_to_its_report_s_archived_copy(chromium, page, browser_archive):
    page("/")
    sid = browser_archive.session_id()
    chromium.find_element("css selector", f'li.session[data-session-id="{sid}"] a').click()
    wait_url(chromium, f"/sessions/{sid}")
    wait_for(chromium, "li.mention")
    screenshot(chromium, "session")
    reports = css(chromium, 'li.mention[data-kind="report"]')
    assert len(reports) == 2  # thanhhoa-tv first, chinhphu-news later
    for mention in reports:
        marked = mention.find_element("css selector", "blockquote.evidence mark").text
        assert "phiên họp" in marked.lower()
    originals = {a.get_attribute("href") for a in css(chromium, "li.mention a.original")}
    first_url = browser_archive.portals.url("thanhhoa-tv", browser_archive.report.slug)
    assert first_url in originals
    (sent,) = css(chromium, "table#alerts tr.alert")
    assert sent.get_attribute("data-state") == "sent"
    (hit,) = browser_archive.receiver.delivered  # the delivery id the receiver saw
    assert hit.headers["x-dxmon-delivery"] in sent.text
    # follow the first outlet's report to the archived copy
    (mention,) = [m for m in reports
                  if m.find_element("css selector", "a.original").get_attribute("href")
                  == first_url]
    mention.find_element("css selector", "a.archived").click()
    wait_url(chromium, "/articles/")
    assert wait_for(chromium, "h1.title").text == browser_archive.report.title
    assert browser_archive.report.sapo.split(",")[0] in chromium.find_element(
        "css selector", "div.text").text


def test_search_without_diacritics_finds_the_article_and_leads_to_it(chromium, page,
                                                                   browser_archive):
    page("/search")
    form = chromium.find_element("css selector", "form#search-form")
    box = form.find_element("css selector", 'input[name="q"]')
    box.send_keys(BRIDGE_QUERY)
    box.submit()
    wait_url(chromium, "q=cau")
    wait_for(chromium, "ol#results li.result")
    screenshot(chromium, "search")
    titles = css(chromium, "ol#results li.result a.title")
    assert titles[0].text == BRIDGE.title  # shown as published, with its diacritics
    result = css(chromium, "ol#results li.result")[0]
    assert {m.text.lower() for m in result.find_elements("css selector", "mark")} & {
        "cầu", "treo", "lũng", "phìn"}
    titles[0].click()
    wait_url(chromium, f"/articles/{browser_archive.article_id(browser_archive.bridge_url)}")
    assert wait_for(chromium, "h1.title").text == BRIDGE.title


def test_search_filters_by_source_and_by_reporting_a_session(chromium, page, browser_archive):
    from selenium.webdriver.support.ui import Select

    number = browser_archive.number
    page("/search")
    form = chromium.find_element("css selector", "form#search-form")
    form.find_element("css selector", 'input[name="q"]').send_keys(f"phien hop thu {number}")
    Select(form.find_element("css selector", 'select[name="source"]')).select_by_value(
        "thanhhoa-tv")
    form.find_element("css selector", 'input[name="reports"]').click()
    form.submit()
    wait_url(chromium, "reports=1")
    wait_for(chromium, "ol#results li.result")
    outlets = {o.text for o in css(chromium, "ol#results li.result .outlet")}
    assert outlets == {"thanhhoa-tv"}
    titles = [a.text for a in css(chromium, "ol#results a.title")]
    assert browser_archive.report.title in titles
    # the bridge's article reports no session: "reports a session" leaves it out
    page(f"/search?q={BRIDGE_QUERY.replace(' ', '+')}&reports=1")
    assert not css(chromium, "ol#results li.result")
    page(f"/search?q={BRIDGE_QUERY.replace(' ', '+')}")
    assert [a.text for a in css(chromium, "ol#results a.title")] == [BRIDGE.title]


def test_a_search_for_words_nowhere_in_the_archive_finds_nothing(chromium, page):
    page("/search?q=khong+co+tu+nay+zzqx")
    assert css(chromium, "form#search-form")
    assert not css(chromium, "ol#results li.result")


def test_search_pages_forward_without_repeating_a_result(chromium, page, web_view):
    """"phien hop" matches more articles than a page holds: the next page link leads to
    other results, and following it to the end shows each matching article once."""
    page("/search?q=phien+hop")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += [a.get_attribute("href") for a in css(chromium, "ol#results li.result a.title")]
        following = css(chromium, 'a[rel="next"]')
        if not following or pages > 50:  # a next link on every page would be a loop
            break
        following[0].click()
        wait_url(chromium, "after=")
        wait_for(chromium, "main#content")
    assert pages > 1 and not following, pages
    assert len(seen) == len(set(seen))
    # the same articles, in the same order, as the JSON twin's pages
    twin, after = [], ""
    for _ in range(pages):
        with urllib.request.urlopen(f"{web_view.url}/api/search?q=phien+hop{after}",
                                    timeout=WAIT_S) as answer:
            api = json.load(answer)
        twin += [f"/articles/{r['id']}" for r in api["results"]]
        if api["next"] is None:
            break
        after = f"&after={api['next']}"
    assert [urlsplit(h).path for h in seen] == twin


def test_an_edited_article_shows_its_versions_as_a_diff(chromium, page, browser_archive):
    page(f"/articles/{browser_archive.article_id(browser_archive.bridge_url)}")
    wait_for(chromium, "section#versions")
    screenshot(chromium, "article")
    chromium.execute_script("document.querySelector('section#versions').scrollIntoView()")
    screenshot(chromium, "article-diff")
    assert "96 mét" in chromium.find_element("css selector", "div.text").text
    assert "80 mét" not in chromium.find_element("css selector", "div.text").text
    versions = chromium.find_element("css selector", "section#versions")
    deleted = " ".join(d.text for d in versions.find_elements("css selector", "del"))
    inserted = " ".join(i.text for i in versions.find_elements("css selector", "ins"))
    assert "80" in deleted and "96" not in deleted
    assert "96" in inserted and "80" not in inserted
    aliases = [a.text for a in css(chromium, "ul#aliases li")]
    assert any(browser_archive.bridge_url in a for a in aliases)
    byline = chromium.find_element("css selector", "p.byline").text
    assert BRIDGE.author in byline and BRIDGE.site in byline


def test_an_article_without_edits_shows_no_diff(chromium, page, browser_archive):
    page(f"/articles/{browser_archive.article_id(browser_archive.hostile_url)}")
    assert not css(chromium, "section#versions del, section#versions ins")


def test_a_hostile_title_is_shown_as_text_and_runs_nothing(chromium, page, browser_archive):
    page(f"/articles/{browser_archive.article_id(browser_archive.hostile_url)}")
    title = chromium.find_element("css selector", "h1.title")
    assert title.text == HOSTILE_TITLE
    assert not css(chromium, "h1.title script, main#content script")
    assert HOSTILE_TITLE in chromium.title  # the tab's title shows it as text too
    assert_no_dialog(chromium)
    # the same title in search results
    page("/search?q=canh+giac+gia+mao")
    (link,) = [a for a in css(chromium, "ol#results a.title") if "<script>" in a.text]
    assert link.text == HOSTILE_TITLE
    assert not css(chromium, "ol#results script")
    assert_no_dialog(chromium)


def test_sources_show_every_portal_with_a_chart(chromium, page):
    page("/sources")
    screenshot(chromium, "sources")
    rows = css(chromium, "table#sources tr.source")
    assert {r.get_attribute("data-source") for r in rows} == set(SITES)
    for row in rows:
        assert row.find_elements("css selector", "svg.spark"), row.get_attribute("data-source")


def test_alerts_show_the_one_alert_that_was_sent(chromium, page, browser_archive):
    page("/alerts")
    screenshot(chromium, "alerts")
    rows = css(chromium, "table#outbox tr.alert")
    assert [r.get_attribute("data-state") for r in rows] == ["sent"]
    assert "webhook" in rows[0].text and str(browser_archive.number) in rows[0].text


def test_lang_en_shows_english_labels_and_vi_is_the_default(chromium, page):
    page("/?lang=en")
    assert chromium.find_element("css selector", "html").get_attribute("lang") == "en"
    nav = chromium.find_element("css selector", "nav#nav").text
    assert {"Sessions", "Search", "Sources", "Alerts"} <= set(nav.split())
    # English follows the user through the nav, and a click on the switch goes back
    chromium.find_element("css selector", 'nav#nav a[href*="/search"]').click()
    wait_url(chromium, "/search")
    assert wait_for(chromium, "html[lang]").get_attribute("lang") == "en"
    assert "Search" in chromium.find_element("css selector", "main#content").text
    chromium.find_element("css selector", "nav#nav a.lang").click()
    wait_for(chromium, 'html[lang="vi"]')
    assert "Tìm kiếm" in chromium.find_element("css selector", "main#content").text
    page("/")
    nav = chromium.find_element("css selector", "nav#nav").text
    assert "Search" not in nav and "Tìm kiếm" in nav and "Nguồn tin" in nav


# --- the Content-Security-Policy -------------------------------------------------------

PAGES = ["/", "/?lang=en", "/search?q=phien+hop", "/sources", "/alerts"]


def test_no_page_holds_an_inline_script_and_the_csp_forbids_one(chromium, page, web_view,
                                                                browser_archive):
    pages = [*PAGES, f"/sessions/{browser_archive.session_id()}",
             f"/articles/{browser_archive.article_id(browser_archive.bridge_url)}",
             f"/articles/{browser_archive.article_id(browser_archive.hostile_url)}"]
    for path in pages:
        with urllib.request.urlopen(web_view.url + path, timeout=WAIT_S) as answer:
            policy = answer.headers["Content-Security-Policy"] or ""
        directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in policy.split(";")
                          if d.strip())
        script_src = directives.get("script-src", directives.get("default-src", ""))
        assert script_src and "'unsafe-inline'" not in script_src, (path, policy)
        page(path)
        assert not css(chromium, "script:not([src])"), path
        assert not injected_script_runs(chromium), path


def test_the_inline_script_probe_sees_a_script_run_where_no_csp_forbids_it(chromium):
    """The probe above, on a page without a CSP: it does see an inline script run, so
    its "no" on the web view's pages means something."""
    chromium.get("data:text/html,<main id='content'>no policy here</main>")
    assert injected_script_runs(chromium)


def injected_script_runs(driver) -> bool:
    """Whether a <script> element added to the page runs (a CSP without
    'unsafe-inline' refuses it; WebDriver's own execute_script is not inline script)."""
    return driver.execute_script(
        "window.__dxmon_ran = false;"
        "var s = document.createElement('script');"
        "s.textContent = 'window.__dxmon_ran = true';"
        "document.body.appendChild(s);"
        "return window.__dxmon_ran;")


# --- actions (last: they change the archive) ------------------------------------------

NEW_ARTICLE = PortalArticle(
    slug="ha-giang-mo-lop-day-tieng-mong-cho-can-bo-xa", site="hagiang-tv", section="xa-hoi",
    title="Hà Giang mở lớp dạy tiếng Mông cho cán bộ xã",
    published=datetime(2026, 1, 1, tzinfo=VN_TZ), author="Lò Thị Mai",
    sapo=("Sở Nội vụ tỉnh Hà Giang khai giảng lớp bồi dưỡng tiếng Mông cho 45 cán bộ, công "
          "chức cấp xã ở các huyện vùng cao."),
    paragraphs=("Lớp học kéo dài ba tháng, tập trung vào giao tiếp hằng ngày và thuật ngữ "
                "hành chính để cán bộ làm việc trực tiếp với người dân.",))


def test_crawl_now_from_the_sources_page_archives_what_was_published(chromium, page,
                                                                      browser_archive):
    """The one form a user posts: "crawl now" on a source (with the page's CSRF token),
    then the new article is found by search."""
    from selenium.webdriver.support.ui import WebDriverWait

    now = datetime.now(VN_TZ)
    browser_archive.portals.publish("hagiang-tv", NEW_ARTICLE.edited(published=recently(now, 10)))
    page("/sources")
    row = chromium.find_element("css selector", 'tr.source[data-source="hagiang-tv"]')
    row.find_element("css selector", "form.crawl-now button").click()
    wait_url(chromium, "crawling=hagiang-tv")
    # scrapy's start alone takes over a second: the page is drawn while the crawl runs
    row = wait_for(chromium, 'tr.source[data-source="hagiang-tv"]')
    assert row.find_elements("css selector", ".crawling")
    search = f"{chromium.current_url.split('/sources')[0]}/search?q=tieng+mong+can+bo+xa"

    def archived(driver) -> bool:
        driver.get(search)
        return any(a.text == NEW_ARTICLE.title for a in css(driver, "ol#results a.title"))

    # a single-source crawl of the test portal takes seconds; 120 s covers a loaded CI
    WebDriverWait(chromium, 120, poll_frequency=1).until(
        archived, message="the article published before 'crawl now' was never archived")

    def finished(driver) -> bool:
        driver.get(search.split("/search")[0] + "/sources")
        return not css(driver, 'tr.source[data-source="hagiang-tv"] .crawling')

    # and the crawl ends (before the server is stopped at the module's end)
    WebDriverWait(chromium, 120, poll_frequency=1).until(
        finished, message="the crawl started from the page never ended")


def test_a_form_posted_from_another_site_is_refused(chromium, page, web_view):
    """CSRF, attacked from a real browser: a page elsewhere posts the crawl form to the
    web view (no token, then a made-up one); it is refused and no crawl starts."""
    for token in ("", '<input type="hidden" name="csrf" value="made-up">'):
        form = (f'<form method="post" action="{web_view.url}/sources/mst-portal/crawl">'
                f'{token}<button id="go" type="submit">go</button></form>')
        chromium.get("data:text/html;charset=utf-8," + quote(form))
        chromium.find_element("css selector", "#go").click()
        wait_url(chromium, "/sources/mst-portal/crawl")
        wait_text(chromium, "body", "CSRF")  # the 403 page says why
    page("/sources")
    row = chromium.find_element("css selector", 'tr.source[data-source="mst-portal"]')
    assert not row.find_elements("css selector", ".crawling")
    assert row.find_elements("css selector", "form.crawl-now button")


# --- the set-up's own promises ------------------------------------------------------------


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    import testsupport.browser as support

    monkeypatch.setattr(support, "CHROMIUM", tmp_path / "absent-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="in CI the browser tests must run"):
        support.require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="absent-chromium"):
        support.require_chromium()


def test_selenium_manager_is_never_asked_for_a_driver():
    """A Service without a driver path would make Selenium download one: under the guard
    that start_chromium uses, that is an error before anything is fetched."""
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchDriverException
    from selenium.webdriver.chrome.service import Service

    from testsupport.browser import _no_selenium_manager

    with _no_selenium_manager(), pytest.raises(NoSuchDriverException) as caught:
        webdriver.Chrome(options=webdriver.ChromeOptions(), service=Service())
    assert "Selenium Manager was asked" in str(caught.value.__cause__)
