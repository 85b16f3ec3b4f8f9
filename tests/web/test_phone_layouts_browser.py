"""The report pages on a 390 px phone and a 1280 px desktop, in real headless Chromium, on the demo data
with many more links: no sideways page scroll, the menu on one row behind a working toggle, chart text
of at least 11 CSS px, tables as cards with their column names, and the axe audit at both widths.

Full-page screenshots of every page at both widths are kept in the test's tmp dir (its path is printed).
"""

import pytest
from playwright.sync_api import expect

from linktrack.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo_data
from linktrack.models import User
from tests.support.accessibility import AccessibilityAudit, serve_axe
from tests.support.live import serve_app

pytestmark = pytest.mark.browser

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
EXTRA_LINKS = 30
MIN_CHART_TEXT_PX = 11

# The smallest text drawn in any chart, in CSS px as shown: font size times the SVG's scale on screen.
SMALLEST_CHART_TEXT = """() => {
  const sizes = [...document.querySelectorAll("svg.chart text")].filter(t => t.getBoundingClientRect().width > 0)
    .map(t => parseFloat(getComputedStyle(t).fontSize) * Math.sqrt(Math.abs(t.getScreenCTM().a * t.getScreenCTM().d)));
  return sizes.length ? Math.min(...sizes) : null;
}"""

# Each .table-cards table as shown: how its rows display, and each labelled cell's label as drawn.
TABLE_CARDS = """() => [...document.querySelectorAll("table.table-cards")]
  .filter(t => t.getClientRects().length).map(t => ({
  id: t.id,
  header: getComputedStyle(t.tHead).position,
  rows: [...t.tBodies[0].rows].map(r => getComputedStyle(r).display),
  labels: [...t.tBodies[0].querySelectorAll("td[data-label]")].filter(c => c.getClientRects().length)
    .map(c => [c.dataset.label, getComputedStyle(c, "::before").content]),
  unlabelled: [...t.tBodies[0].querySelectorAll("td:not([data-label])")]
    .filter(c => c !== c.parentElement.cells[0]).length,
  right: Math.max(...[...t.tBodies[0].rows].map(r => r.getBoundingClientRect().right)),
}))"""


@pytest.fixture
def demo(app, make_link):
    """The demo creator's five links with 60 days of clicks, and EXTRA_LINKS more with long campaign names."""
    with app.app_context():
        load_demo_data()
        user = User.query.filter_by(email=DEMO_EMAIL).one()
        links = [str(link.id) for link in user.links]
    for index in range(EXTRA_LINKS):
        make_link(user.id, campaign=f"autumn-sponsorship-series-episode-{index:02d}", video_id=f"vid{index:08d}")
    return links[0]


def test_report_pages_fit_a_phone_and_a_desktop(app, browser, demo, tmp_path, capsys):
    pages = {
        "dashboard": "/dashboard",
        "links": "/links",
        "link-report": f"/links/{demo}/report",
        "revenue": "/reports/revenue?group=link&range=all",
    }
    with capsys.disabled():
        print(f"\nphone and desktop screenshots: {tmp_path}")
    with serve_app(app) as app_url:
        context = browser.new_context(viewport=PHONE)
        serve_axe(context, app_url)
        audit = AccessibilityAudit(app_url)
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{app_url}/login")
        page.get_by_label("Email").fill(DEMO_EMAIL)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{app_url}/dashboard")

        for viewport in (PHONE, DESKTOP):
            width = viewport["width"]
            page.set_viewport_size(viewport)
            for name, path in pages.items():
                page.goto(app_url + path)
                where = f"{name} at {width} px"
                page.screenshot(path=tmp_path / f"{name}-{width}.png", full_page=True)

                assert page.evaluate("document.scrollingElement.scrollWidth") <= width, where
                smallest = page.evaluate(SMALLEST_CHART_TEXT)
                if name != "links":
                    assert smallest is not None and smallest >= MIN_CHART_TEXT_PX, (where, smallest)
                tables = page.evaluate(TABLE_CARDS)
                assert tables, where
                for table in tables:
                    assert table["unlabelled"] == 0, (where, table["id"])
                    assert table["right"] <= width, (where, table["id"])
                    if width == PHONE["width"]:
                        assert table["header"] == "absolute", (where, table["id"])  # kept for screen readers only
                        assert set(table["rows"]) == {"grid"}, (where, table["id"])
                        assert table["labels"] and all(drawn == f'"{label}"' for label, drawn in table["labels"]), (
                            where,
                            table["id"],
                            table["labels"][:3],
                        )
                    else:
                        assert set(table["rows"]) == {"table-row"}, (where, table["id"])
                check_menu(page, width, where, tmp_path / f"{name}-{width}-menu-open.png")
                audit.check(page, where)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width

        context.close()
    print(audit.report())
    assert audit.violations == [], audit.report()
    assert problems == []


def check_menu(page, width: int, where: str, screenshot) -> None:
    """On a phone the menu is one row (the brand and its toggle) and opens and closes; on a desktop it is open."""
    nav = page.get_by_role("navigation", name="Main")
    dashboard = nav.get_by_role("link", name="Dashboard")
    toggle = nav.locator("summary")
    if width > 640:
        expect(toggle).to_be_hidden()
        expect(dashboard).to_be_visible()
        expect(nav.get_by_role("button", name="Log out")).to_be_visible()
        return
    brand = nav.get_by_role("link", name="linktrack").bounding_box()
    box = toggle.bounding_box()
    header = page.locator(".site-header").bounding_box()
    assert abs((box["y"] + box["height"] / 2) - (brand["y"] + brand["height"] / 2)) < 4, where  # one row
    assert header["height"] < 64, (where, header)
    expect(dashboard).to_be_hidden()
    toggle.click()
    expect(dashboard).to_be_visible()
    expect(nav.get_by_role("link", name="Revenue")).to_be_in_viewport()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    page.screenshot(path=screenshot)
    assert page.locator(".site-header").bounding_box()["height"] == header["height"], where  # it opens over the page
    toggle.click()
    expect(dashboard).to_be_hidden()


def test_the_menu_and_the_custom_dates_work_without_javascript(app, browser, creator, make_link, make_click):
    """Both are <details>: a tap opens them with scripts off; a wide screen shows them open; a custom range
    keeps its dates in view on a phone."""
    user_id, email, password = creator()
    make_click(make_link(user_id))
    with serve_app(app) as app_url:
        context = browser.new_context(viewport=PHONE, java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{app_url}/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{app_url}/dashboard")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Links")).to_be_hidden()
        expect(page.get_by_label("From")).to_be_hidden()
        nav.locator("summary").click()
        nav.get_by_role("link", name="Links").click()
        expect(page).to_have_url(f"{app_url}/links")

        page.goto(f"{app_url}/dashboard?from=2026-03-01&to=2026-03-31")
        expect(page.get_by_label("From")).to_have_value("2026-03-01")
        expect(page.get_by_label("From")).to_be_visible()

        page.set_viewport_size(DESKTOP)
        page.goto(f"{app_url}/dashboard")
        expect(nav.get_by_role("link", name="Links")).to_be_visible()
        expect(page.get_by_label("From")).to_be_visible()
        context.close()
