"""The pages' automated accessibility check: axe-core, pinned and vendored under tests/assets, run in Chromium
on each page in its light and dark colour schemes and at a phone's width.

axe.min.js is axe-core 4.14.1 exactly as npm ships it (`npm pack axe-core@4.14.1`; its sha256 matches
the package's sri-history.json). It is served to the page by Playwright's request routing at an address
on the app's own origin, so no network is used and a Content-Security-Policy allowing the app's own
scripts ('self') lets it run like any other script of the app.
"""

from tests.support.paths import TEST_ASSETS

AXE_VERSION = "4.14.1"
AXE_SCRIPT = TEST_ASSETS / f"axe-core-{AXE_VERSION}" / "axe.min.js"
AXE_PATH = f"/__tests__/axe-core-{AXE_VERSION}/axe.min.js"  # never served by the app itself

# WCAG 2.0, 2.1 and 2.2 A and AA, and Deque's best practices (landmarks, heading order, one h1).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Each page is checked as shown (light, every rule of AXE_TAGS), then again where it differs: in app.css's
# dark palette (prefers-color-scheme) for the rules that read colours, and at a phone's width for the rules
# that read the layout (wide tables scroll sideways in their own boxes there and must be reachable by keyboard).
VIEWS = (
    ("light", None, None),
    ("dark", None, ["color-contrast", "link-in-text-block"]),
    ("phone", {"width": 375, "height": 740}, ["scrollable-region-focusable", "target-size"]),
)
NODES_SHOWN = 5


def serve_axe(context, app_url: str) -> None:
    """Answer AXE_PATH on the app's origin with the vendored file, for every page of `context`."""
    context.route(
        f"{app_url}{AXE_PATH}",
        lambda route: route.fulfill(path=AXE_SCRIPT, content_type="text/javascript; charset=utf-8"),
    )


class AccessibilityAudit:
    """Runs axe on each page it is shown and keeps every violation, so one run reports all of them."""

    def __init__(self, app_url: str):
        self.app_url = app_url
        self.checked: list[str] = []
        self.violations: list[tuple[str, str, dict]] = []

    def check(self, page, name: str) -> list[dict]:
        """Run axe on `page` as it is now, in each of VIEWS; returns its violations (also kept for report())."""
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=f"{self.app_url}{AXE_PATH}")
        found = []
        shown_at = page.viewport_size
        for view, viewport, rules in VIEWS:
            page.emulate_media(color_scheme="dark" if view == "dark" else "light")
            if viewport:
                page.set_viewport_size(viewport)
            only = {"type": "rule", "values": rules} if rules else {"type": "tag", "values": AXE_TAGS}
            violations = page.evaluate(
                "only => axe.run(document, {runOnly: only, resultTypes: ['violations']}).then(r => r.violations)",
                only,
            )
            self.checked.append(f"{name} ({view})")
            self.violations.extend((f"{name} ({view})", page.url, violation) for violation in violations)
            found.extend(violations)
        page.emulate_media(color_scheme="light")
        page.set_viewport_size(shown_at)
        return found

    def serious(self) -> list[tuple[str, str, dict]]:
        return [entry for entry in self.violations if entry[2]["impact"] in ("serious", "critical")]

    def report(self) -> str:
        """Every violation by page: rule, impact, what it asks, and the first elements that break it."""
        lines = [f"axe-core {AXE_VERSION}: {len(self.violations)} violation(s) in {len(self.checked)} checks"]
        for name, url, violation in self.violations:
            lines.append(f"\n[{name}] {url}")
            lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}  {violation['helpUrl']}")
            for node in violation["nodes"][:NODES_SHOWN]:
                lines.append(f"    at {' '.join(map(str, node['target']))}: {node['html'][:160]}")
                summary = (node.get("failureSummary") or "").replace("\n", " / ")
                lines.append(f"       {summary[:300]}")
            if len(violation["nodes"]) > NODES_SHOWN:
                lines.append(f"    … and {len(violation['nodes']) - NODES_SHOWN} more element(s)")
        return "\n".join(lines)
