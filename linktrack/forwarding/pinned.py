"""One POST to an address linktrack resolved and checked itself (addresses.py), with no second lookup.

`requests` would resolve the name again when it connects, so a DNS answer that changed after the
check (rebinding) would be used. Here urllib3 connects to the pinned IP, while the URL's hostname
stays in the Host header, in TLS SNI and in certificate verification: an https receiver is verified
as the name the creator typed. Redirects are not followed, and the answer's body is never read.
No proxy is used: a proxy would resolve the name itself.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from .addresses import IPAddress


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for the connection, and then for each read of the answer."""

    connect: float
    read: float


class NoAnswer(Exception):
    """The receiver gave no HTTP answer; the message is linktrack's, naming the host, never the URL."""


def post(
    url: str, body: bytes, headers: dict, addresses: list[IPAddress], timeouts: Timeouts, ca_certs: str | None = None
) -> int:
    """The status code the receiver answered at the first of `addresses` that takes the connection.

    A refused connection moves on to the next address (a name often has an IPv6 and an IPv4 one);
    a connect timeout does not, so one try waits at most about one connect timeout.
    `ca_certs` is the CA bundle https receivers are verified with (certifi's by default).
    """
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    host_header = f"[{hostname}]" if ":" in hostname else hostname
    if parts.port:
        host_header += f":{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {**headers, "Host": host_header}
    refused: NoAnswer | None = None
    for address in addresses:
        try:
            with _pool(address, port, hostname if https else None, timeouts, ca_certs) as pool:
                response = pool.urlopen(
                    "POST", target, body=body, headers=headers, redirect=False, retries=False, preload_content=False
                )
                response.close()  # the body is never read, and the socket goes with it
                return response.status
        except NewConnectionError as exc:
            refused = NoAnswer(f"ConnectionError: cannot connect to {hostname} ({_os_reason(exc)})")
        except ConnectTimeoutError:
            raise NoAnswer(f"ConnectTimeout: no connection to {hostname} within {timeouts.connect:g} s") from None
        except ReadTimeoutError:
            raise NoAnswer(f"ReadTimeout: {hostname} did not answer within {timeouts.read:g} s") from None
        except SSLError as exc:
            raise NoAnswer(f"SSLError: the TLS connection to {hostname} failed ({_os_reason(exc)})") from None
        except ProtocolError:
            raise NoAnswer(f"ConnectionError: {hostname} closed the connection without an answer") from None
        except HTTPError as exc:
            raise NoAnswer(f"{type(exc).__name__}: no answer from {hostname}") from None
    raise refused or NoAnswer(f"ConnectionError: no address to connect to for {hostname}")


def _pool(address: IPAddress, port: int, tls_hostname: str | None, timeouts: Timeouts, ca_certs: str | None):
    """A one-connection pool to the pinned address; with TLS, SNI and the certificate check use the hostname."""
    timeout = Timeout(connect=timeouts.connect, read=timeouts.read)
    if tls_hostname is None:
        return HTTPConnectionPool(str(address), port, timeout=timeout, retries=False, maxsize=1)
    return HTTPSConnectionPool(
        str(address),
        port,
        timeout=timeout,
        retries=False,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        ca_certs=ca_certs or certifi.where(),
        server_hostname=tls_hostname,
        assert_hostname=tls_hostname,
    )


def _os_reason(exc: Exception) -> str:
    """The operating system's or TLS library's few words under a urllib3 error ("Connection refused")."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, OSError) and (cause.strerror or getattr(cause, "reason", None)):
            return str(cause.strerror or cause.reason)
        cause = cause.__cause__ or cause.__context__
    return str(exc)[:200]
