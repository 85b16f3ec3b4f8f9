"""Click logging: what a click row holds, which requests are not counted, unique visitors, IP hashing."""

import logging
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine

from linktrack.counting.buffer import ClickWriter
from linktrack.extensions import db
from linktrack.models import CampaignLink
from linktrack.redirect.clicks import (
    MAX_USER_AGENT_LENGTH,
    click_writer,
    flush_clicks,
    hash_ip,
    is_bot,
    is_counted,
)
from linktrack.reports.queries import dashboard_summary
from tests.support.redirect import (
    CHROME_WINDOWS,
    FIREFOX_LINUX,
    SAFARI_IPHONE,
    click,
    create_link,
    stored_clicks,
)

START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)

BOTS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "AhrefsBot": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "GPTBot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "curl": "curl/8.5.0",
    "python-requests": "python-requests/2.32.3",
    "UptimeRobot": "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "HeadlessChrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
    ),
}
UNFURLERS = {
    "Slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack images": "Slack-ImgProxy (+https://api.slack.com/robots)",
    "Discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "X": "Twitterbot/1.0",
    "Facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Facebot": "Facebot",
    "Meta": "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "Telegram": "TelegramBot (like TwitterBot)",
    "LinkedIn": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
}
# In-app browsers of the same companies are people, not unfurlers.
IN_APP_BROWSERS = {
    "Facebook app": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.40.105;FBBV/612345678;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;"
        "FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]"
    ),
    "Instagram app": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36 Instagram 345.0.0.48.95 Android"
    ),
    "YouTube app webview": (
        "Mozilla/5.0 (Linux; Android 14; SM-S921B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36"
    ),
}
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def link(app, creator):
    return create_link(app, creator()[0])


@pytest.mark.parametrize(
    ("user_agent", "device_type", "browser", "os_name"),
    [
        (CHROME_WINDOWS, "desktop", "Chrome", "Windows"),
        (FIREFOX_LINUX, "desktop", "Firefox", "Linux"),
        (SAFARI_IPHONE, "mobile", "Mobile Safari", "iOS"),
        (IPAD, "tablet", "Mobile Safari", "iOS"),
        (ANDROID_TABLET, "tablet", "Chrome", "Android"),
        (IN_APP_BROWSERS["YouTube app webview"], "mobile", "Chrome Mobile WebView", "Android"),
    ],
)
def test_a_browser_click_is_stored_with_what_the_user_agent_says(
    app, client, link, user_agent, device_type, browser, os_name
):
    response = click(client, link["short_code"], user_agent=user_agent, headers={"Referer": "https://www.youtube.com/"})

    assert response.status_code == 302
    [stored] = stored_clicks(app)
    assert (stored.device_type, stored.browser, stored.os) == (device_type, browser, os_name)
    assert stored.user_agent == user_agent
    assert stored.referrer == "https://www.youtube.com/"
    assert stored.is_bot is False and stored.is_unique is True
    assert stored.clicked_at.tzinfo is not None


@pytest.mark.parametrize("name", sorted(BOTS) + sorted(UNFURLERS))
def test_bots_and_unfurlers_are_redirected_and_kept_out_of_every_count(app, client, link, name):
    user_agent = BOTS.get(name) or UNFURLERS[name]

    response = click(client, link["short_code"], user_agent=user_agent)

    assert response.status_code == 302
    assert "ct_tracking_id=" in response.headers["Location"]
    [stored] = stored_clicks(app)
    assert stored.is_bot is True
    assert stored.is_unique is False
    assert stored.device_type == "bot"
    with app.app_context():
        summary = dashboard_summary(db.session.get(CampaignLink, link["id"]).user_id)
    assert (summary.clicks, summary.unique_clicks) == (0, 0)


@pytest.mark.parametrize("name", sorted(IN_APP_BROWSERS))
def test_in_app_browsers_are_people(name):
    assert is_bot(IN_APP_BROWSERS[name]) is False


def test_a_request_without_user_agent_counts_as_a_bot(app, client, link):
    response = client.get(f"/{link['short_code']}", headers={"User-Agent": ""})

    assert response.status_code == 302
    [stored] = stored_clicks(app)
    assert stored.is_bot is True and stored.user_agent is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Purpose": "prefetch"},
        {"Sec-Purpose": "prefetch"},
        {"Sec-Purpose": "prefetch;prerender"},
        {"X-Moz": "prefetch"},
        {"X-Purpose": "preview"},
    ],
)
def test_prefetches_are_redirected_and_store_nothing(app, client, link, headers):
    response = click(client, link["short_code"], headers=headers)

    assert response.status_code == 302
    assert "ct_tracking_id=" in response.headers["Location"]
    assert stored_clicks(app) == []


def test_is_counted_only_for_plain_gets():
    assert is_counted("GET", {"Accept": "text/html"})
    assert not is_counted("HEAD", {})
    assert not is_counted("GET", {"Sec-Purpose": "Prefetch"})


def test_repeat_clicks_within_an_hour_are_logged_but_not_unique(app, client, link):
    minutes = [0, 30, 89, 150, 151]  # 89 is within an hour of 30; 150 is over an hour after 89
    for minute in minutes:
        with time_machine.travel(START + timedelta(minutes=minute), tick=False):
            assert click(client, link["short_code"]).status_code == 302

    clicks = stored_clicks(app)
    assert [c.clicked_at for c in clicks] == [START + timedelta(minutes=m) for m in minutes]
    assert [c.is_unique for c in clicks] == [True, False, False, True, False]


def test_uniqueness_is_per_visitor_and_per_link(app, client, link, creator):
    other_link = create_link(app, creator()[0])
    with time_machine.travel(START, tick=False):
        click(client, link["short_code"])
        click(client, link["short_code"], ip="198.51.100.8")  # another address
        click(client, link["short_code"], user_agent=SAFARI_IPHONE)  # another device behind the same address
        click(client, other_link["short_code"])  # another link
        click(client, link["short_code"])  # the first visitor again

    assert [c.is_unique for c in stored_clicks(app)] == [True, True, True, True, False]


def test_the_raw_ip_is_never_stored(app, client, link):
    ip = "203.0.113.77"
    with time_machine.travel(START, tick=False):
        click(client, link["short_code"], ip=ip)

    [stored] = stored_clicks(app)
    stored_values = [str(getattr(stored, column.key)) for column in stored.__table__.columns]
    assert not any(ip in value for value in stored_values)
    assert stored.ip_hash == hash_ip(ip, START.date(), app.config["SECRET_KEY"])
    assert len(stored.ip_hash) == 64 and int(stored.ip_hash, 16) >= 0


def test_the_ip_hash_rotates_between_days_and_so_does_uniqueness(app, client, link):
    before_midnight = datetime(2026, 3, 2, 23, 50, tzinfo=timezone.utc)
    with time_machine.travel(before_midnight, tick=False) as clock:
        click(client, link["short_code"])
        clock.shift(timedelta(minutes=5))
        click(client, link["short_code"])
        clock.shift(timedelta(minutes=10))  # 00:05 the next day
        click(client, link["short_code"])

    first, same_day, next_day = stored_clicks(app)
    assert first.ip_hash == same_day.ip_hash != next_day.ip_hash
    assert [first.is_unique, same_day.is_unique, next_day.is_unique] == [True, False, True]


def test_ip_hashes_depend_on_the_secret_key_and_the_day():
    ip = "2001:db8::1"
    day = date(2026, 3, 2)
    assert hash_ip(ip, day, "key-one") == hash_ip(ip, day, "key-one")
    assert hash_ip(ip, day, "key-one") != hash_ip(ip, day, "key-two")
    assert hash_ip(ip, day, "key-one") != hash_ip(ip, day + timedelta(days=1), "key-one")
    assert hash_ip(ip, day, "key-one") != hash_ip("2001:db8::2", day, "key-one")


def test_the_hash_uses_the_forwarded_address_behind_a_trusted_proxy(make_app, creator):
    app = make_app(TRUST_PROXY_HOPS=1)
    link = create_link(app, creator()[0])
    with time_machine.travel(START, tick=False):
        click(app.test_client(), link["short_code"], ip="10.0.0.2", headers={"X-Forwarded-For": "203.0.113.5"})

    [stored] = stored_clicks(app)
    assert stored.ip_hash == hash_ip("203.0.113.5", START.date(), app.config["SECRET_KEY"])


def test_long_user_agents_and_referrers_are_cut_to_size(app, client, link):
    long_agent = CHROME_WINDOWS + " Extra/1.0" * 200
    long_referrer = "https://www.youtube.com/watch?v=dQw4w9WgXcQ&x=" + "y" * 5000

    click(client, link["short_code"], user_agent=long_agent, headers={"Referer": long_referrer})

    [stored] = stored_clicks(app)
    assert stored.user_agent == long_agent[:MAX_USER_AGENT_LENGTH]
    assert stored.referrer == long_referrer[:1024]
    assert stored.browser == "Chrome" and stored.is_bot is False


# ---- writing in batches (CLICK_FLUSH_SECONDS > 0, the production setting) ---------------------


@pytest.fixture
def buffered_app(make_app, app):
    """An app whose clicks wait in the buffer until flushed (the interval is too long to elapse)."""
    application = make_app(CLICK_FLUSH_SECONDS=3600)
    yield application
    with application.app_context():
        click_writer().close()


def test_buffered_clicks_are_written_on_flush_with_repeats_in_the_batch_marked(buffered_app, creator):
    link = create_link(buffered_app, creator()[0])
    client = buffered_app.test_client()
    with time_machine.travel(START, tick=False) as clock:
        assert click(client, link["short_code"]).status_code == 302
        clock.shift(timedelta(minutes=5))
        click(client, link["short_code"], ip="198.51.100.99")
        clock.shift(timedelta(minutes=5))
        click(client, link["short_code"])  # the first visitor again, in the same batch

    assert stored_clicks(buffered_app) == []
    with buffered_app.app_context():
        assert flush_clicks() == 3
    assert [c.is_unique for c in stored_clicks(buffered_app)] == [True, True, False]


def test_a_batch_with_a_deleted_link_still_stores_the_other_clicks(buffered_app, creator, caplog):
    owner = creator()[0]
    kept, deleted = create_link(buffered_app, owner), create_link(buffered_app, owner)
    client = buffered_app.test_client()
    click(client, kept["short_code"])
    lost_location = click(client, deleted["short_code"]).headers["Location"]
    click(client, kept["short_code"], ip="198.51.100.99")
    with buffered_app.app_context():
        db.session.delete(db.session.get(CampaignLink, deleted["id"]))
        db.session.commit()

        with caplog.at_level(logging.ERROR, logger="linktrack.redirect.clicks"):
            flush_clicks()

    assert [c.campaign_link_id for c in stored_clicks(buffered_app)] == [kept["id"], kept["id"]]
    [record] = [r for r in caplog.records if r.name == "linktrack.redirect.clicks"]
    lost_tracking_id = dict(parse_qsl(urlsplit(lost_location).query))["ct_tracking_id"]
    assert record.getMessage() == f"1 click(s) not stored: tracking ids {lost_tracking_id}"


def test_a_clean_exit_writes_the_buffered_clicks(app, creator, database_url, tmp_path):
    link = create_link(app, creator()[0])
    script = f"""
from linktrack import create_app
app = create_app({{"SQLALCHEMY_DATABASE_URI": {database_url!r}, "SECRET_KEY": "x", "TESTING": True,
                  "CLICK_FLUSH_SECONDS": 3600, "INSTANCE_PATH": {str(tmp_path)!r}}})
response = app.test_client().get("/{link["short_code"]}", headers={{"User-Agent": {CHROME_WINDOWS!r}}})
print(response.headers["Location"])
"""  # the process then ends normally with the click still in its buffer
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)

    tracking_id = dict(parse_qsl(urlsplit(done.stdout.strip()).query))["ct_tracking_id"]
    assert [str(c.tracking_id) for c in stored_clicks(app)] == [tracking_id]


def test_the_writer_writes_on_its_own_within_its_interval_and_keeps_click_order():
    written, done = [], threading.Event()

    def write(rows):
        written.extend(rows)
        if len(written) == 3:
            done.set()

    writer = ClickWriter(write, flush_seconds=0.01)
    for number in range(3):
        writer.submit({"number": number})

    assert done.wait(timeout=10)
    assert written == [{"number": 0}, {"number": 1}, {"number": 2}]
    writer.close()


def test_closing_the_writer_writes_what_is_left_and_then_writes_at_once():
    written = []
    writer = ClickWriter(written.extend, flush_seconds=3600)
    writer.submit({"number": 0})
    writer.submit({"number": 1})
    assert written == []

    writer.close()
    assert written == [{"number": 0}, {"number": 1}]
    writer.submit({"number": 2})
    assert written[-1] == {"number": 2}


def test_a_writer_thread_shortens_the_gil_turns_a_request_waits_for():
    """The writer's batches are Python work in a second thread: a request waits at most
    GIL_TURN_SECONDS for its turn, not Python's default 5 ms (measured in bench/redirect.py)."""
    script = """
import sys
from linktrack.counting.buffer import ClickWriter
before = sys.getswitchinterval()
writer = ClickWriter(lambda rows: None, flush_seconds=3600)
writer.submit({"number": 0})
print(before, sys.getswitchinterval())
writer.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["0.005", "0.001"]
