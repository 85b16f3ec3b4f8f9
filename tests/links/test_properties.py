"""Property-based tests (Hypothesis) of the rules every link passes through.

The example tests (test_youtube.py, test_validation.py) pin the cases people thought of; these state
the rules and let Hypothesis look for the case nobody did: every accepted form of a YouTube URL
gives back its video id and no lookalike host is taken for YouTube; destinations are only ever safe
http(s) URLs; short codes follow their shape and never shadow a route.
"""

import re
import string
from urllib.parse import urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from linktrack.links import service as link_service
from linktrack.links import validation as links
from linktrack.links.youtube import (
    SHORT_LINK_HOSTS,
    VIDEO_PATH_PREFIXES,
    YOUTUBE_HOSTS,
    InvalidVideoReference,
    parse_video_id,
)
from tests.support.properties import PROPERTIES, WITH_APP

# ---- YouTube references -----------------------------------------------------------------------------

video_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=11, max_size=11)
query_values = st.text(alphabet=string.ascii_letters + string.digits + "-_.~", max_size=20)
extra_params = st.lists(
    st.tuples(st.sampled_from(["t", "si", "list", "feature", "index", "start", "pp"]), query_values), max_size=3
)


def any_case(text: str) -> st.SearchStrategy[str]:
    """`text` with each letter upper- or lower-case: hosts, schemes and codes are case-insensitive."""
    flips = st.lists(st.booleans(), min_size=len(text), max_size=len(text))
    return flips.map(lambda upper: "".join(ch.upper() if up else ch for ch, up in zip(text, upper, strict=True)))


@st.composite
def youtube_references(draw):
    """(reference, video id): any accepted form, host, scheme (or none), casing, extra parameters."""
    video_id = draw(video_ids)
    params = draw(extra_params)
    form = draw(st.sampled_from(["watch", "short_link", "path"]))
    if form == "watch":
        host = draw(st.sampled_from(sorted(YOUTUBE_HOSTS)))
        before = draw(st.integers(0, len(params)))
        query = urlencode(params[:before] + [("v", video_id)] + params[before:])
        rest = f"/watch?{query}"
    elif form == "short_link":
        host = draw(st.sampled_from(sorted(SHORT_LINK_HOSTS)))
        rest = f"/{video_id}" + draw(st.sampled_from(["", "/"])) + (f"?{urlencode(params)}" if params else "")
    else:
        host = draw(st.sampled_from(sorted(YOUTUBE_HOSTS)))
        prefix = draw(st.sampled_from(sorted(VIDEO_PATH_PREFIXES)))
        rest = f"/{prefix}/{video_id}" + draw(st.sampled_from(["", "/"])) + (f"?{urlencode(params)}" if params else "")
    fragment = draw(st.sampled_from(["", "#t=30", "#comments"]))
    scheme = draw(st.sampled_from(["https://", "http://", "HTTPS://", "//", ""]))
    padding = draw(st.sampled_from(["", " ", "\n", "\t "]))
    return f"{padding}{scheme}{draw(any_case(host))}{rest}{fragment}{padding}", video_id


@PROPERTIES
@given(youtube_references())
def test_any_accepted_form_of_a_youtube_url_gives_back_its_video_id(reference_and_id):
    reference, video_id = reference_and_id
    assert parse_video_id(reference) == video_id


@PROPERTIES
@given(video_ids)
def test_a_bare_video_id_is_its_own_reference(video_id):
    assert parse_video_id(video_id) == video_id


labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\Z")


@st.composite
def lookalike_hosts(draw):
    """A YouTube host with something before or after it: evil-youtube.com, youtube.com.evil.net, …"""
    host = draw(st.sampled_from(sorted(YOUTUBE_HOSTS | SHORT_LINK_HOSTS)))
    before = draw(st.sampled_from(["", "x", "my", "www-"]) | labels.map(lambda label: label + "."))
    after = draw(st.sampled_from(["", "x", ".evil.com", "-cdn.net", ".co"]) | labels.map(lambda label: "." + label))
    lookalike = f"{before}{host}{after}"
    assume(lookalike not in YOUTUBE_HOSTS | SHORT_LINK_HOSTS)
    return lookalike


@PROPERTIES
@given(lookalike_hosts(), video_ids, st.sampled_from(["/watch?v={}", "/{}", "/shorts/{}", "/embed/{}"]))
def test_no_lookalike_host_is_taken_for_youtube(host, video_id, path):
    with pytest.raises(InvalidVideoReference):
        parse_video_id(f"https://{host}{path.format(video_id)}")


@PROPERTIES
@given(
    st.sampled_from(sorted(YOUTUBE_HOSTS | SHORT_LINK_HOSTS)),
    st.sampled_from(["evil.com", "attacker.example", "127.0.0.1"]),
    video_ids,
)
def test_a_youtube_host_in_the_path_or_user_name_of_another_site_is_refused(youtube_host, other, video_id):
    for reference in (
        f"https://{other}/{youtube_host}/watch?v={video_id}",
        f"https://{youtube_host}@{other}/watch?v={video_id}",
        f"https://{other}?u=https://{youtube_host}/watch?v={video_id}",
    ):
        with pytest.raises(InvalidVideoReference):
            parse_video_id(reference)


@PROPERTIES
@given(st.text(max_size=300))
def test_any_text_gives_a_video_id_found_in_it_or_a_reason(text):
    try:
        video_id = parse_video_id(text)
    except InvalidVideoReference as refusal:
        assert str(refusal)
    else:
        assert re.fullmatch(r"[A-Za-z0-9_-]{11}", video_id)
        assert video_id in text


# ---- destinations -----------------------------------------------------------------------------------

OWN_BASE_URL = "https://lt.example.com/"
url_safe = st.text(alphabet=string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/", max_size=40)


@pytest.fixture
def in_request(app):
    """A request on linktrack's own origin: a destination there would loop back to linktrack."""
    with app.test_request_context("/", base_url=OWN_BASE_URL):
        yield


@st.composite
def http_urls(draw):
    scheme = draw(st.sampled_from(["https", "http", "HTTPS"]))
    host = ".".join(draw(st.lists(labels, min_size=1, max_size=3))) + draw(st.sampled_from([".com", ".org", ".io"]))
    port = draw(st.sampled_from(["", ":8080", ":443"]))
    path = "/" + draw(url_safe).lstrip("/")
    query = draw(st.sampled_from(["", "?ref=yt", "?a=1&b=%20x"]))
    fragment = draw(st.sampled_from(["", "#buy", "#"]))
    return f"{scheme}://{host}{port}{path}{query}{fragment}"


@WITH_APP
@given(url=http_urls(), padding=st.sampled_from(["", " ", "\n"]))
def test_any_absolute_http_url_is_accepted_as_typed(in_request, url, padding):
    assume(
        not url.lower().startswith("https://lt.example.com/")
        and not url.lower().startswith("https://lt.example.com:443")
    )
    assert links.clean_destination(f"{padding}{url}{padding}") == url


@WITH_APP
@given(
    scheme=st.sampled_from(["javascript", "data", "vbscript", "file", "blob"]).flatmap(any_case),
    payload=st.text(max_size=40),
)
def test_script_and_local_schemes_are_never_accepted_in_any_case(in_request, scheme, payload):
    with pytest.raises(links.Refusal):
        links.clean_destination(f"{scheme}:{payload}")


@WITH_APP
@given(st.text(max_size=200) | http_urls().map(lambda url: url.replace("://", "://user:pw@", 1)))
def test_whatever_is_typed_an_accepted_destination_is_a_safe_http_url(in_request, text):
    try:
        url = links.clean_destination(text)
    except links.Refusal as refusal:
        assert refusal.code and refusal.message
        return
    assert re.match(r"(?i)https?://[^/?#@\s]+", url)
    assert not any(ch.isspace() for ch in url)
    assert "@" not in url.split("/", 3)[2]  # no user name or password before the host
    assert len(url) <= links.MAX_URL_LENGTH
    assert links.origin_of(url) != "https://lt.example.com"


@WITH_APP
@given(
    path=url_safe, port=st.sampled_from(["", ":443"]), host_case=st.sampled_from(["lt.example.com", "LT.Example.COM"])
)
def test_a_destination_on_linktracks_own_origin_is_refused(in_request, path, port, host_case):
    with pytest.raises(links.Refusal) as refused:
        links.clean_destination(f"https://{host_case}{port}/{path}")
    assert refused.value.code in ("destination_is_short_link", "invalid_url")


# ---- short codes ------------------------------------------------------------------------------------


@WITH_APP
@given(st.text(max_size=80))
def test_an_accepted_short_code_has_the_documented_shape_and_is_not_reserved(in_request, text):
    try:
        code = links.clean_custom_code(text)
    except links.Refusal as refusal:
        assert refusal.code in ("required", "invalid_short_code", "short_code_reserved", "short_code_taken")
        return
    assert code == text.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{3,64}", code)
    assert code.lower() not in links.reserved_words()


@WITH_APP
@given(data=st.data())
def test_every_route_and_reserved_word_is_refused_in_any_case(in_request, data):
    shaped = sorted(w for w in links.reserved_words() if re.fullmatch(r"[A-Za-z0-9_-]{3,64}", w))
    word = data.draw(st.sampled_from(shaped))
    variant = data.draw(any_case(word))
    with pytest.raises(links.Refusal) as refused:
        links.clean_custom_code(variant)
    assert refused.value.code == "short_code_reserved"


@PROPERTIES
@given(st.integers(1, 64))
def test_generated_short_codes_are_url_safe(length):
    code = link_service.generate_short_code(length)
    assert len(code) == length
    assert set(code) <= set(link_service.SHORT_CODE_ALPHABET)
