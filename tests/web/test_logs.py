"""What an operator reads from the Procfile's web process (linktrack/logs.py, gunicorn.conf.py):
LOG_FORMAT=json makes every line of its output one JSON object carrying the request's id, which the
answer echoes; the access log is off unless ACCESS_LOG is on. Real gunicorn, real output."""

import json
import re

from tests.support.faults import free_port
from tests.support.gunicorn import procfile_web


def json_lines(path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails on any line that is not one JSON object


def test_json_logs_carry_the_request_id_the_answer_echoes(database_url, tmp_path):
    environment = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "log-test",
        "LOG_FORMAT": "json",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens: /readyz logs why it is not ready
    }
    with procfile_web(tmp_path, environment, workers=1) as web:
        kept = web.get("/readyz", {"X-Request-ID": "lb-7f3a.probe:42"})
        replaced = web.get("/readyz", {"X-Request-ID": 'x" injected\\n{"level": "INFO"}' + "a" * 200})
        fresh = web.get("/readyz")
        redirect_miss = web.get("/no-such-code", {"X-Request-ID": "miss-1"})

    assert (kept.status, kept.getheader("X-Request-ID")) == (503, "lb-7f3a.probe:42")
    generated = replaced.getheader("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert (
        re.fullmatch(r"[0-9a-f]{32}", fresh.getheader("X-Request-ID")) and fresh.getheader("X-Request-ID") != generated
    )
    assert redirect_miss.getheader("X-Request-ID") == "miss-1"

    lines = json_lines(web.stderr)
    assert all(set(line) >= {"time", "level", "logger", "message", "request_id"} for line in lines)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    not_ready = [line for line in lines if line["message"].startswith("not ready: redis")]
    assert [line["request_id"] for line in not_ready] == [
        "lb-7f3a.probe:42",
        generated,
        fresh.getheader("X-Request-ID"),
    ]
    assert {(line["level"], line["logger"]) for line in not_ready} == {("WARNING", "linktrack.web.health")}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", not_ready[0]["time"])
    assert "injected" not in web.stderr.read_text()


def test_text_logs_send_no_request_id_header(database_url, tmp_path):
    environment = {"DATABASE_URL": database_url, "SECRET_KEY": "log-test"}
    with procfile_web(tmp_path, environment, workers=1) as web:
        answer = web.get("/healthz", {"X-Request-ID": "abc"})
    assert answer.status == 200 and answer.getheader("X-Request-ID") is None
    assert not web.stderr.read_text().lstrip().startswith("{")


def test_the_access_log_is_off_by_default_and_on_with_access_log(database_url, tmp_path):
    environment = {"DATABASE_URL": database_url, "SECRET_KEY": "log-test"}
    with procfile_web(tmp_path / "off", environment, workers=1) as web:
        assert web.get("/healthz?seen=off").status == 200
    assert "seen=off" not in web.stdout.read_text() + web.stderr.read_text()

    with procfile_web(tmp_path / "on", {**environment, "ACCESS_LOG": "1"}, workers=1) as web:
        assert web.get("/healthz?seen=on").status == 200
    assert re.search(r'"GET /healthz\?seen=on HTTP/1.1" 200', web.stdout.read_text())


def test_json_access_log_lines_are_json_too(database_url, tmp_path):
    environment = {"DATABASE_URL": database_url, "SECRET_KEY": "log-test", "LOG_FORMAT": "json", "ACCESS_LOG": "on"}
    with procfile_web(tmp_path, environment, workers=1) as web:
        assert web.get("/healthz?seen=json").status == 200
    access = [line for line in json_lines(web.stdout) if "GET /healthz?seen=json" in line["message"]]
    assert [(line["logger"], line["level"]) for line in access] == [("gunicorn.access", "INFO")]
