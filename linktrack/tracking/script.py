"""The CampaignTracker script, generated with this linktrack's base URL and default window.

Every landing page loads it, so it is also kept gzip-compressed, once per generated script: a
client that sends `Accept-Encoding: gzip` gets those bytes (about a third of the size), any other
the plain text. Each encoding has an ETag of its own (a cache that stored one must not revalidate
it against the other's bytes) and both answers say `Vary: Accept-Encoding` (views.py).
"""

import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("campaign_tracker.js")
_COMMENT_LINE = re.compile(r"^\s*//.*\n", re.MULTILINE)
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


@dataclass(frozen=True)
class TrackerScript:
    text: bytes  # the script as UTF-8
    gzipped: bytes  # the same, gzip-compressed (no timestamp inside: the same bytes on every host)
    etag: str  # of the plain text
    gzip_etag: str  # of the compressed copy

    def encoded(self, gzip_accepted: bool) -> tuple[bytes, str]:
        """(body, ETag) for a client that does or does not accept gzip."""
        return (self.gzipped, self.gzip_etag) if gzip_accepted else (self.text, self.etag)


@functools.lru_cache(maxsize=32)
def tracker_script(base_url: str, window_days: int) -> TrackerScript:
    """The script for a base URL. Comments and indentation are stripped to keep it small."""
    source = SOURCE.read_text(encoding="utf-8")
    source = _INDENT.sub("", _COMMENT_LINE.sub("", source))
    script = source.replace("__BASE_URL__", json.dumps(base_url.rstrip("/"))).replace(
        "__WINDOW_DAYS__", str(int(window_days))
    )
    text = script.encode()
    etag = hashlib.sha256(text).hexdigest()[:32]
    return TrackerScript(text, gzip.compress(text, compresslevel=9, mtime=0), etag, f"{etag}-gzip")
