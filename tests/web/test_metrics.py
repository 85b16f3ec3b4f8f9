"""GET /metrics as Prometheus sees it (web/metrics.py, linktrack/metrics.py): behind METRICS_TOKEN,
and under the Procfile's gunicorn with two workers the sums of both, read back from the scrape's
text the way Prometheus parses it."""

import concurrent.futures
import uuid

from prometheus_client.parser import text_string_to_metric_families

from tests.support.gunicorn import procfile_web
from tests.support.redirect import CHROME_WINDOWS, create_link, stored_clicks

TOKEN = "scrape-" + uuid.uuid4().hex


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.get_data(as_text=True))


def test_without_a_token_setting_metrics_is_the_ordinary_404(app, client):
    assert app.config["METRICS_TOKEN"] is None
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert "linktrack_" not in response.get_data(as_text=True)


def test_with_a_token_only_that_bearer_token_reads_metrics(make_app):
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "linktrack_" not in response.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_requests_are_counted_by_route_class_and_status(make_app, creator):
    app = make_app(METRICS_TOKEN=TOKEN)
    client = app.test_client()
    link = create_link(app, creator()[0])
    before = scrape(client)

    client.get(f"/{link['short_code']}", headers={"User-Agent": CHROME_WINDOWS})
    client.get("/no-such-code")
    client.get("/api/conversions/script")
    client.get("/api/me")
    client.get("/login")
    client.get("/healthz")
    after = scrape(client)

    def grew(route, status):
        name = "linktrack_http_requests_total"
        return value(after, name, route=route, status=status) - value(before, name, route=route, status=status)

    assert grew("redirect", "302") == 1
    assert grew("redirect", "404") == 1
    assert grew("conversions", "200") == 1
    assert grew("api", "401") == 1
    assert grew("pages", "200") == 1
    assert grew("health", "200") == 2  # /healthz, and the first scrape (counted once it had answered)
    redirects = "linktrack_redirect_duration_seconds_count"
    assert value(after, redirects) - value(before, redirects) == 2


def test_forwarding_attempts_and_job_failures_are_counted(make_app, creator, httpserver):
    from linktrack.forwarding.deliveries import send_test_event
    from linktrack.forwarding.destinations import create_destination
    from linktrack.queue import enqueue

    app = make_app(METRICS_TOKEN=TOKEN)
    client = app.test_client()
    httpserver.expect_request("/hook").respond_with_data("ok")
    user_id = creator()[0]
    before = scrape(client)
    with app.test_request_context():
        destination, _ = create_destination(
            user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"]
        )
        send_test_event(destination)  # delivered inline (no Redis), as the Settings button does
        enqueue("forward_conversion", "not a conversion id")  # the job raises: logged, counted
    after = scrape(client)

    attempts = "linktrack_forwarding_attempts_total"
    assert (
        value(after, attempts, kind="webhook", outcome="delivered")
        - value(before, attempts, kind="webhook", outcome="delivered")
        == 1
    )
    failures = "linktrack_job_failures_total"
    assert value(after, failures, job="forward_conversion") - value(before, failures, job="forward_conversion") == 1
    assert value(after, "linktrack_pending_jobs") == 1  # without Redis the nightly cleanup waits there


def test_the_counting_backlog_is_read_at_the_scrape(make_app, creator):
    """A click stored but not yet counted shows as the backlog; once counted, it is gone."""
    from linktrack.counting.consumer import count_now

    app = make_app(METRICS_TOKEN=TOKEN, CLICK_COUNT_SECONDS=3600)
    client = app.test_client()
    link = create_link(app, creator()[0])
    assert client.get(f"/{link['short_code']}", headers={"User-Agent": CHROME_WINDOWS}).status_code == 302
    scraped = scrape(client)
    assert value(scraped, "linktrack_uncounted_events", kind="clicks") == 1
    assert value(scraped, "linktrack_uncounted_events", kind="conversions") == 0

    with app.app_context():
        count_now()
    scraped = scrape(client)
    assert value(scraped, "linktrack_uncounted_events", kind="clicks") == 0
    assert 0 <= value(scraped, "linktrack_seconds_since_counting_run") < 60


def test_two_gunicorn_workers_are_summed_in_one_scrape(app, creator, database_url, tmp_path):
    link = create_link(app, creator()[0])
    environment = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "metrics-test",
        "REDIS_URL": "",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "SHORT_LINK_RATE_LIMIT_PER_IP": "100000/minute",  # every click from this one address is stored
    }
    clicks = 120
    with procfile_web(tmp_path, environment, workers=2) as web:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # concurrent: both workers take some
            statuses = list(
                pool.map(
                    lambda _: web.get(f"/{link['short_code']}", {"User-Agent": CHROME_WINDOWS}).status, range(clicks)
                )
            )
        assert statuses == [302] * clicks
        assert web.get("/metrics").status == 401
        assert web.get("/metrics", {"Authorization": "Bearer wrong"}).status == 401
        response = web.get("/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 200
        scraped = samples(response.body.decode())
        writers = {path.name.split("_")[-1] for path in (tmp_path / "metrics").glob("counter_*.db")}

    assert len(writers) == 2, "both workers answered redirects"
    assert value(scraped, "linktrack_http_requests_total", route="redirect", status="302") == clicks
    assert value(scraped, "linktrack_redirect_duration_seconds_count") == clicks
    assert value(scraped, "linktrack_redirect_duration_seconds_bucket", le="+Inf") == clicks
    assert ("linktrack_buffer_rows", (("writer", "clicks"),)) in scraped
    assert ("linktrack_clicks_dropped_total", ()) in scraped
    assert value(scraped, "linktrack_clicks_dropped_total") == 0
    assert len(stored_clicks(app)) == clicks


def test_the_queue_depth_is_read_from_redis_at_the_scrape(make_app, redis_client, redis_url):
    from linktrack.queue import enqueue

    app = make_app(METRICS_TOKEN=TOKEN, REDIS_URL=redis_url)
    client = app.test_client()
    assert value(scrape(client), "linktrack_queue_jobs", state="queued") == 0
    with app.app_context():
        assert enqueue("run_due_jobs") == "queued"
        assert enqueue("run_due_jobs") == "queued"
    scraped = scrape(client)
    assert value(scraped, "linktrack_queue_jobs", state="queued") == 2
    assert ("linktrack_queue_jobs", (("state", "failed"),)) in scraped
