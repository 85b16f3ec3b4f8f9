"""The tracker script gzip-compressed for a client that accepts it, plain for one that does not, each
with an ETag of its own and `Vary: Accept-Encoding` (tracking/script.py)."""

import gzip
import http.client
from urllib.parse import urlsplit

import pytest

from tests.support.live import serve_app

PATH = "/api/conversions/script"


def get(client, accept_encoding: str | None = None, **headers):
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    return client.get(PATH, headers=headers)


def test_a_client_that_accepts_gzip_gets_the_same_script_compressed_with_an_etag_of_its_own(client):
    plain = get(client)
    compressed = get(client, "gzip, deflate, br")

    assert compressed.status_code == 200
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.get_data()) == plain.get_data()
    assert int(compressed.headers["Content-Length"]) == len(compressed.get_data()) < len(plain.get_data()) / 2
    assert compressed.headers["ETag"] != plain.headers["ETag"]
    assert compressed.mimetype == plain.mimetype == "application/javascript"
    for response in (plain, compressed):
        assert "Accept-Encoding" in response.vary
        assert response.headers["Cache-Control"] == "public, max-age=3600"
        assert "Cookie" not in response.headers.get("Vary", "")


@pytest.mark.parametrize("accept_encoding", [None, "", "identity", "br", "gzip;q=0"])
def test_a_client_that_does_not_accept_gzip_gets_the_plain_script(client, accept_encoding):
    response = get(client, accept_encoding)

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert b"CampaignTracker" in response.get_data()
    assert "Accept-Encoding" in response.vary


def test_each_encoding_is_revalidated_against_its_own_etag(client):
    plain, compressed = get(client), get(client, "gzip")

    still_compressed = get(client, "gzip", **{"If-None-Match": compressed.headers["ETag"]})
    assert still_compressed.status_code == 304
    assert "Accept-Encoding" in still_compressed.vary
    assert get(client, **{"If-None-Match": plain.headers["ETag"]}).status_code == 304
    # A copy stored plain is not the compressed copy: the whole compressed script comes back.
    other = get(client, "gzip", **{"If-None-Match": plain.headers["ETag"]})
    assert other.status_code == 200
    assert other.headers["Content-Encoding"] == "gzip"


def test_over_a_real_connection_the_compressed_bytes_are_what_is_sent(app):
    with serve_app(app) as base_url:
        address = urlsplit(base_url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            connection.request("GET", PATH, headers={"Accept-Encoding": "gzip"})
            compressed = connection.getresponse()
            body = compressed.read()
            connection.request("GET", PATH)
            plain = connection.getresponse()
            plain_body = plain.read()
        finally:
            connection.close()

    assert compressed.status == plain.status == 200
    assert compressed.getheader("Content-Encoding") == "gzip"
    assert int(compressed.getheader("Content-Length")) == len(body)
    assert gzip.decompress(body) == plain_body
    assert plain.getheader("Content-Encoding") is None
