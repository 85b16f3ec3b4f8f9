"""The CampaignTracker script, generated with this linktrack's base URL and default window."""

import functools
import hashlib
import json
import re
from pathlib import Path

SOURCE = Path(__file__).with_name("campaign_tracker.js")
_COMMENT_LINE = re.compile(r"^\s*//.*\n", re.MULTILINE)
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


@functools.lru_cache(maxsize=32)
def tracker_script(base_url: str, window_days: int) -> tuple[str, str]:
    """(script, etag) for a base URL. Comments and indentation are stripped to keep it small."""
    source = SOURCE.read_text(encoding="utf-8")
    source = _INDENT.sub("", _COMMENT_LINE.sub("", source))
    script = source.replace("__BASE_URL__", json.dumps(base_url.rstrip("/"))).replace(
        "__WINDOW_DAYS__", str(int(window_days))
    )
    etag = hashlib.sha256(script.encode()).hexdigest()[:32]
    return script, etag
