"""YouTube references → video id: every form a creator might paste, and nothing else.

Accepted: watch?v= URLs, youtu.be/<id>, /shorts/, /embed/, /live/, /v/ and /e/ paths on
youtube.com, www., m., music. and youtube-nocookie.com hosts, with or without a scheme, with
any extra parameters (t=, si=, list=, feature=), or a bare 11-character id. Hosts are matched
exactly, so youtube.com.evil.com or evil.com/youtube.com/watch?v=… are refused.
"""

import re
from urllib.parse import parse_qs, urlsplit

VIDEO_ID_LENGTH = 11
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
MAX_REFERENCE_LENGTH = 2048

YOUTUBE_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
SHORT_LINK_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
# Paths of the form /<prefix>/<video id>.
VIDEO_PATH_PREFIXES = frozenset({"shorts", "embed", "live", "v", "e"})
CHANNEL_PATH_PREFIXES = frozenset({"channel", "c", "user"})


class InvalidVideoReference(ValueError):
    """The text is not a YouTube video; the message says what it looks like instead."""


def watch_url(video_id: str) -> str:
    """The canonical address stored for a link, whatever form the creator pasted."""
    return f"https://www.youtube.com/watch?v={video_id}"


def parse_video_id(reference: str) -> str:
    """The 11-character video id in `reference`, or InvalidVideoReference saying why not."""
    text = (reference or "").strip()
    if not text:
        raise InvalidVideoReference("Paste the YouTube video's URL or its 11-character id.")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidVideoReference("That is too long to be a YouTube URL.")
    if VIDEO_ID.fullmatch(text):
        return text
    if "://" not in text:
        if text.startswith("//"):
            text = "https:" + text
        elif "." in text.split("/", 1)[0]:  # "youtu.be/…", "www.youtube.com/…"
            text = "https://" + text
        else:
            raise InvalidVideoReference(_not_an_id_message(text))
    return _video_id_from_url(text)


def _not_an_id_message(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return (
            f"A YouTube video id has exactly {VIDEO_ID_LENGTH} letters, digits, '-' or '_'; this one has {len(text)}."
        )
    return "Paste a YouTube video URL (youtube.com/watch?v=…, youtu.be/…, /shorts/…) or its 11-character id."


def _video_id_from_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError as exc:
        raise InvalidVideoReference("That is not a valid URL.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidVideoReference("Use a YouTube link starting with https://.")
    if parts.username is not None or parts.password is not None:
        raise InvalidVideoReference("A YouTube link never contains a user name or password.")
    segments = [segment for segment in parts.path.split("/") if segment]

    if host in SHORT_LINK_HOSTS:
        candidate = segments[0] if len(segments) == 1 else ""
        return _checked_id(candidate, "A youtu.be link looks like youtu.be/<video id>.")
    if host not in YOUTUBE_HOSTS:
        raise InvalidVideoReference("That is not a YouTube link: use a youtube.com or youtu.be address.")

    if segments == ["watch"]:
        values = parse_qs(parts.query).get("v")
        if not values:
            raise InvalidVideoReference("This YouTube link has no video id (the v= parameter is missing).")
        return _checked_id(values[0], "The v= parameter of this link is not a valid video id.")
    if segments == ["embed", "videoseries"]:  # 11 characters, but a playlist player
        raise InvalidVideoReference("That is a playlist: open one video of it and paste the video's link.")
    if len(segments) == 2 and segments[0] in VIDEO_PATH_PREFIXES:
        return _checked_id(segments[1], f"The /{segments[0]}/ part of this link is not followed by a valid video id.")
    if segments[:1] == ["playlist"]:
        raise InvalidVideoReference("That is a playlist: open one video of it and paste the video's link.")
    if segments[:1] and (segments[0] in CHANNEL_PATH_PREFIXES or segments[0].startswith("@")):
        raise InvalidVideoReference("That is a channel: paste the link of one of its videos.")
    raise InvalidVideoReference("This YouTube link does not point at a video.")


def _checked_id(candidate: str, message: str) -> str:
    if VIDEO_ID.fullmatch(candidate):
        return candidate
    raise InvalidVideoReference(message)
