"""Every form of YouTube reference a creator might paste, and everything that is not one."""

import pytest

from linktrack.links.youtube import InvalidVideoReference, parse_video_id, watch_url

VIDEO = "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "reference",
    [
        f"https://www.youtube.com/watch?v={VIDEO}",
        f"http://www.youtube.com/watch?v={VIDEO}",
        f"https://youtube.com/watch?v={VIDEO}",
        f"https://m.youtube.com/watch?v={VIDEO}",
        f"https://music.youtube.com/watch?v={VIDEO}",
        f"https://WWW.YouTube.com/watch?v={VIDEO}",
        f"www.youtube.com/watch?v={VIDEO}",
        f"youtube.com/watch?v={VIDEO}",
        f"m.youtube.com/watch?v={VIDEO}",
        f"//www.youtube.com/watch?v={VIDEO}",
        f"https://www.youtube.com/watch?v={VIDEO}&t=42s",
        f"https://www.youtube.com/watch?v={VIDEO}&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG&index=3",
        f"https://www.youtube.com/watch?feature=share&v={VIDEO}",
        f"https://www.youtube.com/watch?v={VIDEO}&si=AbCdEfGh12345678",
        f"https://www.youtube.com/watch?v={VIDEO}#t=30",
        f"https://youtu.be/{VIDEO}",
        f"https://youtu.be/{VIDEO}?si=AbCdEfGh12345678",
        f"https://youtu.be/{VIDEO}?t=42",
        f"https://youtu.be/{VIDEO}?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
        f"youtu.be/{VIDEO}",
        f"https://www.youtube.com/shorts/{VIDEO}",
        f"https://youtube.com/shorts/{VIDEO}?feature=share",
        f"https://www.youtube.com/shorts/{VIDEO}/",
        f"https://www.youtube.com/embed/{VIDEO}",
        f"https://www.youtube.com/embed/{VIDEO}?start=10&autoplay=1",
        f"https://www.youtube-nocookie.com/embed/{VIDEO}",
        f"https://www.youtube.com/live/{VIDEO}",
        f"https://www.youtube.com/live/{VIDEO}?si=AbCdEfGh12345678",
        f"https://www.youtube.com/v/{VIDEO}",
        VIDEO,
        f"  {VIDEO}\n",
        f"  https://youtu.be/{VIDEO}  ",
    ],
)
def test_every_youtube_form_gives_the_video_id(reference):
    assert parse_video_id(reference) == VIDEO


@pytest.mark.parametrize("video_id", ["abc-DEF_123", "___________", "-----------", "0123456789a"])
def test_ids_use_letters_digits_dash_and_underscore(video_id):
    assert parse_video_id(video_id) == video_id
    assert parse_video_id(f"https://youtu.be/{video_id}") == video_id


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("", "Paste the YouTube video's URL or its 11-character id."),
        ("   ", "Paste the YouTube video's URL or its 11-character id."),
        ("dQw4w9WgXc", "exactly 11 letters, digits, '-' or '_'; this one has 10"),
        ("dQw4w9WgXcQQ", "this one has 12"),
        ("dQw4w9WgX!Q", "Paste a YouTube video URL"),
        ("hello world", "Paste a YouTube video URL"),
        (f"https://youtube.com.evil.com/watch?v={VIDEO}", "not a YouTube link"),
        (f"https://evil.com/youtube.com/watch?v={VIDEO}", "not a YouTube link"),
        (f"https://notyoutube.com/watch?v={VIDEO}", "not a YouTube link"),
        (f"https://youtu.be.evil.com/{VIDEO}", "not a YouTube link"),
        (f"https://vimeo.com/{VIDEO}", "not a YouTube link"),
        (f"https://user:pw@www.youtube.com/watch?v={VIDEO}", "user name or password"),
        (f"ftp://www.youtube.com/watch?v={VIDEO}", "https://"),
        (f"javascript://www.youtube.com/watch?v={VIDEO}", "https://"),
        ("https://www.youtube.com/watch?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", "v= parameter is missing"),
        ("https://www.youtube.com/watch?v=short", "not a valid video id"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ%3Cscript", "not a valid video id"),
        ("https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", "playlist"),
        ("https://www.youtube.com/embed/videoseries?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", "playlist"),
        ("https://www.youtube.com/channel/UC38IQsAvIsxxjztdMZQtwHA", "channel"),
        ("https://www.youtube.com/@SomeCreator", "channel"),
        ("https://www.youtube.com/c/SomeCreator", "channel"),
        ("https://www.youtube.com/user/SomeCreator", "channel"),
        ("https://www.youtube.com/", "does not point at a video"),
        ("https://www.youtube.com/feed/subscriptions", "does not point at a video"),
        ("https://www.youtube.com/shorts/", "does not point at a video"),
        (f"https://www.youtube.com/shorts/{VIDEO}x", "/shorts/ part of this link is not followed by a valid video id"),
        ("https://youtu.be/", "youtu.be/<video id>"),
        (f"https://youtu.be/{VIDEO}/extra", "youtu.be/<video id>"),
        ("https://youtu.be/tooshort", "youtu.be/<video id>"),
        ("https://www.youtube.com:99999/watch?v=dQw4w9WgXcQ", "not a valid URL"),
        ("https://youtu.be/" + "a" * 3000, "too long"),
    ],
)
def test_anything_else_is_refused_with_a_clear_message(reference, message):
    with pytest.raises(InvalidVideoReference) as refused:
        parse_video_id(reference)
    assert message in str(refused.value)


def test_links_store_the_canonical_watch_url():
    assert watch_url(VIDEO) == f"https://www.youtube.com/watch?v={VIDEO}"
    assert parse_video_id(watch_url(VIDEO)) == VIDEO
