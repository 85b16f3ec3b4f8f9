"""Reading server-rendered pages the way a browser or a screen reader would."""

import re
from html import unescape
from html.parser import HTMLParser


class _Elements(HTMLParser):
    """Collects every element's attributes and the text of elements with an id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        element_id = attributes.get("id")
        if element_id:
            self.by_id[element_id] = {"tag": tag, **attributes}
            self.text_by_id[element_id] = ""
        if tag not in {"input", "br", "img", "meta", "link", "hr"}:
            self._open.append((tag, element_id))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        for _, element_id in self._open:
            if element_id:
                self.text_by_id[element_id] += data


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def field_error(html: str, field_id: str) -> str | None:
    """The error shown next to a form field, checked to be tied to the field for assistive tech.

    Returns None when the field is valid (and then asserts it is not marked invalid).
    """
    page = elements(html)
    field = page.by_id.get(field_id)
    assert field is not None, f"no field with id {field_id!r} on the page"
    error_id = f"{field_id}-error"
    if error_id not in page.by_id:
        assert field.get("aria-invalid") != "true", f"{field_id} is marked invalid but shows no error"
        return None
    assert field.get("aria-invalid") == "true", f"{field_id} shows an error but is not aria-invalid"
    assert error_id in (field.get("aria-describedby") or "").split(), f"{field_id} is not described by its error"
    return " ".join(page.text_by_id[error_id].split())


def field_value(html: str, field_id: str) -> str | None:
    return elements(html).by_id[field_id].get("value")


def flashes(html: str) -> list[str]:
    return [" ".join(unescape(text).split()) for text in re.findall(r'<p class="flash[^"]*">(.*?)</p>', html, re.S)]


def visible_text(html: str) -> str:
    """The page's text without tags, whitespace collapsed: what a reader sees."""
    without_scripts = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", without_scripts)).split())
