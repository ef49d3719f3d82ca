"""Where a track's audio came from, as the track page says it (analysis.audio.audio_origin)."""

from __future__ import annotations

from services.domain.analysis.audio import audio_origin


def test_each_way_audio_arrives():
    assert audio_origin(None) is None and audio_origin({}) is None and audio_origin({"method": ""}) is None
    assert audio_origin({"method": "upload", "filename": "a.wav", "at": "2026-12-08T01:02:03+00:00"}) == {
        "text": "Uploaded from “a.wav”, 2026-12-08", "url": None}
    assert audio_origin({"method": "import", "filename": "x.mp3", "matched_by": "filename", "score": 0.912})["text"] \
        == "Added from your file “x.mp3”, matched by its name (score 0.91)"
    searched = audio_origin({"method": "youtube-search", "title": "Artist - Song (Official Audio)",
                             "why": "no link: searched YouTube", "url": "https://www.youtube.com/watch?v=abc"})
    assert searched == {"text": "Found by a YouTube search and downloaded: “Artist - Song (Official Audio)” "
                                "(no link: searched YouTube)", "url": "https://www.youtube.com/watch?v=abc"}
    # only a web page is a link; anything else stored there is text at most
    assert audio_origin({"method": "yt-dlp", "url": "javascript:alert(1)"})["url"] is None
    assert audio_origin({"method": "something-new"})["text"] == "From something-new"
