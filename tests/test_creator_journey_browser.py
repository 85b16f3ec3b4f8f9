"""A creator's whole journey in headless Chromium, and an accessibility check (axe-core) of every page on it.

Register, create a link for a YouTube video, a viewer opens the short link and buys on the landing page
(another origin, loading the CampaignTracker from the app), and the creator finds the click, the purchase
and its revenue on the link's pages. Full-page screenshots of the dashboard and the link pages are kept in
test-output/screenshots/<database>/ for review.
"""

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from linktrack.redirect.clicks import click_writer
from tests.support.accessibility import AXE_VERSION, AccessibilityAudit, serve_axe
from tests.support.live import serve_app, serve_directory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
PASSWORD = "correct horse battery"
VIDEO_URL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s"
WAIT_MS = 10_000  # the longest any page or figure may take to appear
# Headless Chromium says "HeadlessChrome", which linktrack rightly counts as a bot: the viewer browses as Chrome.
VIEWER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

LANDING_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>The course</title>
<link rel="icon" href="data:,"><script src="{app}/api/conversions/script"></script>
<script src="landing.js" defer></script></head>
<body><main><h1>Learn to edit video</h1><p>The full course, lifetime access.</p>
<button id="buy" type="button">Buy the course for $49.99</button>
<p id="order-status" role="status"></p></main></body></html>"""

LANDING_JS = """document.getElementById("buy").addEventListener("click", function () {
  var status = document.getElementById("order-status");
  CampaignTracker.trackPurchase(49.99).then(function (result) {
    status.textContent = result.ok ? "Thank you for your order!" : "Order not recorded: " + result.reason;
  });
});"""


@pytest.fixture
def journey_app(make_app, app):
    """The app as served in production as far as clicks go: written in batches every 0.1 s."""
    application = make_app(CLICK_FLUSH_SECONDS=0.1)
    yield application
    with application.app_context():
        click_writer().close()


@pytest.fixture
def servers(journey_app, tmp_path):
    """The app on one loopback port, the creator's landing page on another (a different origin)."""
    with serve_app(journey_app) as app_url:
        (tmp_path / "landing.html").write_text(LANDING_HTML.format(app=app_url))
        (tmp_path / "landing.js").write_text(LANDING_JS)
        with serve_directory(tmp_path) as landing_url:
            yield app_url, landing_url


@pytest.fixture
def screenshots(capsys, database_url):
    """test-output/screenshots/<sqlite or postgresql>/, kept after the run for review; its path is printed."""
    directory = SCREENSHOTS / database_url.split(":", 1)[0].split("+", 1)[0]
    directory.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nscreenshots of the creator journey: {directory}")
    return directory


REFUSED_RESOURCE = re.compile(r"Failed to load resource: the server responded with a status of (\d+) ")


def page_problems(page, expected_statuses: set[int]) -> list[str]:
    """Script errors and console errors (a CSP refusal among them) of `page`. A page answered with an error
    status is logged as a failed resource: that is a problem only if the status was not expected (the 404
    page, a form sent back with its errors)."""
    problems: list[str] = []

    def on_console(message) -> None:
        refused = REFUSED_RESOURCE.match(message.text)
        if message.type == "error" and not (refused and int(refused[1]) in expected_statuses):
            problems.append(f"console.error: {message.text}")

    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", on_console)
    return problems


def reload_until_text(page, locator, text: str) -> None:
    """Reload `page` until `locator` shows `text` (figures written in the background), for at most WAIT_MS."""
    for _ in range(WAIT_MS // 500):
        try:
            expect(locator).to_contain_text(text, timeout=500)
            return
        except AssertionError:
            page.reload()
    expect(locator).to_contain_text(text)


def stat(page, label: str):
    """The figure of the totals box labelled `label` (dashboard, funnel and revenue pages)."""
    return (
        page.locator(".stat")
        .filter(has=page.locator(".stat-label", has_text=re.compile(f"^{label}$")))
        .locator(".stat-value")
    )


def test_creator_registers_links_a_video_and_sees_a_purchase_and_every_page_passes_axe(browser, servers, screenshots):
    app_url, landing_url = servers
    creator_context = browser.new_context(viewport={"width": 1280, "height": 900})
    serve_axe(creator_context, app_url)
    creator_context.set_default_timeout(WAIT_MS)
    page = creator_context.new_page()
    problems = page_problems(page, expected_statuses={404, 422})
    audit = AccessibilityAudit(app_url)

    # Register: first with nothing filled in (the errors are shown next to the fields), then for real.
    page.goto(f"{app_url}/register")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    audit.check(page, "register")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Enter your email address.")).to_be_visible()
    audit.check(page, "register with errors")
    email = f"creator-{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{app_url}/dashboard")
    expect(page.get_by_text("Welcome to linktrack!")).to_be_visible()
    audit.check(page, "dashboard of a new account")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Links").click()
    expect(page.get_by_role("heading", name="Create your first campaign link")).to_be_visible()
    audit.check(page, "links list, empty")

    # A link for a YouTube video, sent first with a URL that is not a video.
    page.get_by_role("link", name="Create a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New campaign link")
    audit.check(page, "new-link form")
    page.get_by_label("YouTube video").fill("https://vimeo.com/76979871")
    page.get_by_label("Landing page URL").fill(f"{landing_url}/landing.html")
    page.get_by_label("Campaign name").fill("Spring course launch")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct the field marked below.")
    expect(page.get_by_label("YouTube video")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "new-link form with a validation error")
    page.get_by_label("YouTube video").fill(VIDEO_URL)
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Your link is ready")).to_be_visible()
    expect(page.locator('dt:text-is("Allowed origins") + dd')).to_have_text(landing_url)  # it may report
    audit.check(page, "link detail")
    short_url = page.get_by_role("textbox", name="Short link").input_value()
    link_page = page.url
    assert re.fullmatch(rf"{re.escape(app_url)}/[A-Za-z0-9]{{7}}", short_url), short_url

    # A viewer (another browser profile) clicks the short link and lands on the landing page.
    viewer = browser.new_context(user_agent=VIEWER_USER_AGENT).new_page()
    viewer_problems = page_problems(viewer, expected_statuses=set())
    with viewer.expect_response(re.compile(rf"^{re.escape(landing_url)}/landing\.html\?.*ct_tracking_id=")):
        viewer.goto(short_url)
    # Once stored, the tracker takes its parameters out of the address bar; the UTM stay.
    expect(viewer).to_have_url(re.compile(rf"^{re.escape(landing_url)}/landing\.html\?utm_source=youtube&[^#]*$"))
    expect(viewer).not_to_have_url(re.compile("ct_"))
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Learn to edit video")

    # The click reaches the database in the next batch (0.1 s); the creator sees it on the link page.
    page.reload()
    reload_until_text(page, page.locator(".hint").filter(has_text="so far"), "1 click so far")

    viewer.get_by_role("button", name="Buy the course for $49.99").click()
    expect(viewer.get_by_role("status")).to_have_text("Thank you for your order!")
    assert viewer_problems == []
    viewer.context.close()

    # The link's report: 1 click, 1 purchase, $49.99 on the funnel and the revenue.
    page.get_by_role("link", name="Full report").click()
    reload_until_text(page, page.locator("#total-conversions"), "1")
    expect(page.locator("#total-clicks")).to_have_text("1")
    expect(page.locator("#total-revenue")).to_have_text("$49.99")
    funnel = page.locator("#link-funnel-table")
    expect(funnel.get_by_role("row", name=re.compile("^Clicks")).get_by_role("cell")).to_have_text(["1", "", ""])
    purchased = funnel.get_by_role("row", name=re.compile("^Purchases"))
    expect(purchased.get_by_role("cell").first).to_have_text("1")
    purchases = page.locator("#revenue-by-type").get_by_role("row", name=re.compile("^Purchases"))
    expect(purchases.get_by_role("cell")).to_have_text(["1", "$49.99", "100.0%"])
    expect(page.locator("#recent-conversions")).to_contain_text("$49.99")
    page.screenshot(path=screenshots / "link-report.png", full_page=True)
    audit.check(page, "link report")

    page.goto(link_page)
    expect(page.locator("#last-30-days")).to_contain_text("$49.99")
    page.screenshot(path=screenshots / "link-detail.png", full_page=True)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(stat(page, "Clicks")).to_have_text("1")
    expect(stat(page, "Revenue")).to_have_text("$49.99")
    page.screenshot(path=screenshots / "dashboard.png", full_page=True)
    audit.check(page, "dashboard")

    nav.get_by_role("link", name="Links").click()
    expect(page.get_by_role("link", name=short_url.removeprefix(app_url), exact=True)).to_be_visible()
    audit.check(page, "links list")

    nav.get_by_role("link", name="Funnel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Funnel")
    expect(stat(page, "Clicks")).to_have_text("1")
    expect(stat(page, "Purchases")).to_have_text("1")
    audit.check(page, "funnel")

    nav.get_by_role("link", name="Revenue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Revenue")
    expect(stat(page, "Revenue")).to_have_text("$49.99")
    expect(stat(page, "Purchases")).to_have_text("1")
    audit.check(page, "revenue")

    nav.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    page.get_by_label("Key name").fill("Stripe webhook")
    page.get_by_role("button", name="Create API key").click()
    expect(page.get_by_role("alert")).to_contain_text("Your new API key.")
    expect(page.get_by_role("group", name="Your API keys")).to_contain_text("Stripe webhook")
    audit.check(page, "settings with a new API key")

    page.get_by_role("link", name="Forwarding", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forwarding")
    audit.check(page, "forwarding")

    page.goto(f"{app_url}/links/{uuid.uuid4()}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This page does not exist")
    audit.check(page, "error 404")

    # Log out, and back in: the login page, with a wrong password first.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    audit.check(page, "login")
    page.goto(app_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Know which video earns money.")
    audit.check(page, "home")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("That email and password do not match an account.")).to_be_visible()
    audit.check(page, "login with an error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{app_url}/dashboard")

    print(audit.report())
    assert audit.serious() == [], audit.report()
    assert audit.violations == [], audit.report()
    assert problems == []
    creator_context.close()


BROKEN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Broken</title></head><body>
<div><h3>Offer</h3><img src="data:,"><p style="color:#c8c8c8">Faint text</p><input type="text"><a href="/x"></a></div>
</body></html>"""


def test_the_accessibility_check_finds_what_a_broken_page_gets_wrong(browser, tmp_path):
    """The audit above can fail: on a page with known faults, the pinned axe reports each of them."""
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    with serve_directory(tmp_path) as url:
        context = browser.new_context()
        serve_axe(context, url)
        page = context.new_page()
        page.goto(f"{url}/broken.html")
        audit = AccessibilityAudit(url)
        found = {violation["id"] for violation in audit.check(page, "broken")}
        context.close()
    assert audit.checked == ["broken (light)", "broken (dark)", "broken (phone)"]
    assert {"html-has-lang", "image-alt", "color-contrast", "label", "link-name", "landmark-one-main"} <= found
    assert {"image-alt", "label"} <= {violation["id"] for _, _, violation in audit.serious()}
    report = audit.report()
    assert (
        report.startswith(f"axe-core {AXE_VERSION}: ")
        and "[broken (light)] " in report
        and "image-alt (critical)" in report
    )
