"""Errors in the site's style for people, and in one JSON shape under /api (DESIGN.md §5)."""

import logging

import pytest
from flask import abort

from tests.support.pages import visible_text


def assert_site_page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'class="brand"' in html and 'aria-label="Main"' in html, "the page keeps the site's navigation"
    assert f"<h1>{heading}</h1>" in html
    assert "Traceback" not in html
    return visible_text(html)


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize("path", ["/no/such/page", "/settings/nothing-here", "/static/missing.css"])
def test_an_unknown_page_is_a_styled_404(client, path):
    text = assert_site_page(client.get(path), 404, "This page does not exist")
    assert "Check the address, or start from the home page." in text
    assert "Go to linktrack" in text


def test_the_404_page_keeps_a_signed_in_creators_navigation(client, register):
    email = register()
    text = assert_site_page(client.get("/no/such/page"), 404, "This page does not exist")
    assert "Dashboard" in text and "Settings" in text and email in text


@pytest.mark.parametrize("path", ["/api/nothing", "/api/me/extra", "/api/"])
def test_an_unknown_api_path_answers_json_404(client, path):
    error = assert_api_error(client.get(path), 404, "not_found")
    assert "<" not in error["message"]


def test_a_wrong_method_on_the_api_answers_json_405(client):
    response = client.delete("/api/me")
    assert_api_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


@pytest.fixture(params=[True, False], ids=["testing", "production-mode"])
def failing_app(request, make_app):
    """An app with routes that fail unexpectedly, added before its first request."""
    application = make_app(TESTING=request.param)

    @application.get("/_test/boom")
    def boom():
        raise RuntimeError("database password is hunter2")

    @application.get("/api/_test/boom")
    def api_boom():
        raise KeyError("internal detail hunter2")

    @application.get("/_test/gone")
    def gone():
        abort(410)

    return application


def test_an_unexpected_error_is_a_500_page_without_details(failing_app, caplog):
    with caplog.at_level(logging.ERROR, logger="linktrack.errors"):
        response = failing_app.test_client().get("/_test/boom")
    text = assert_site_page(response, 500, "Something went wrong on our side")
    assert "Please try again in a moment." in text
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    # The details go to the log instead, with the traceback.
    [record] = [r for r in caplog.records if r.name == "linktrack.errors"]
    assert "GET /_test/boom" in record.getMessage()
    assert record.exc_info and "hunter2" in str(record.exc_info[1])


def test_an_unexpected_api_error_is_json_500_without_details(failing_app, caplog):
    with caplog.at_level(logging.ERROR, logger="linktrack.errors"):
        response = failing_app.test_client().get("/api/_test/boom")
    error = assert_api_error(response, 500, "internal_error")
    assert error["message"] == "Something went wrong on our side."
    assert "hunter2" not in response.get_data(as_text=True)


def test_a_gone_page_is_a_styled_410(failing_app):
    text = assert_site_page(failing_app.test_client().get("/_test/gone"), 410, "This link has ended")
    assert "The video description may have a newer link." in text


def test_a_too_large_form_is_refused_with_a_page_not_a_crash(client):
    response = client.post("/login", data={"email": "x@example.com", "password": "p" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "Traceback" not in response.get_data(as_text=True)
