"""Tracks with and without audio and analysis for the export/import tests, and pyrekordbox's XML reader."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

from sqlalchemy.orm import Session

from services.common.models import Library, Track

# title -> columns; paths are relative to AUDIO_DIR with {lib} for the library id
TRACKS = {
    "Opener": dict(artist="Ann & Co", album="First Light", year=2001, bpm=122.0, camelot="8A", key="A",
                   scale="minor", energy=4.0, duration_seconds=301.4, star_rating=4, styles=["Deep House"],
                   notes="warm-up", spotify_url="https://open.spotify.com/track/abc",
                   local_audio_path="library_{lib}/Ann & Co - Opener é 100%.mp3",
                   analysis={"beats": [0.52, 1.011, 1.503, 1.995, 2.487], "phrase_starts": [1.503],
                             "first_beat": 0.52}),
    "Peak": dict(artist="Bee", album=None, year=None, bpm=128.0, camelot="3B", key="Db", scale="major", energy=8.0,
                 duration_seconds=245.0, star_rating=None, genres=["Electronic"],
                 local_audio_path="library_{lib}/2.flac",
                 analysis={"beats": [0.1, 0.569, 1.038], "phrase_starts": []}),
    "Ghost": dict(artist="Nobody", bpm=None, camelot=None, duration_seconds=200.0, local_audio_path=None),
    "Closer": dict(artist="=cmd|' /C calc'!A0", bpm=96.5, camelot="11A", key="F#", scale="minor", energy=3.0,
                   duration_seconds=None, local_audio_path="library_{lib}/4.wav"),
}
ORDER = ["Peak", "Ghost", "Opener", "Closer"]


def make_library(session: Session, owner_id: int, name: str = "crate") -> Library:
    library = Library(owner_id=owner_id, name=name)
    session.add(library)
    session.flush()
    return library


def make_tracks(session: Session, library: Library) -> dict[str, Track]:
    """The TRACKS above in `library` (flushed), by title."""
    rows = {}
    for i, (title, columns) in enumerate(TRACKS.items()):
        values = dict(columns)
        if values.get("local_audio_path"):
            values["local_audio_path"] = values["local_audio_path"].format(lib=library.id)
        rows[title] = Track(track_id=f"{library.id}-A{i}", library_id=library.id, title=title, **values)
    session.add_all(rows.values())
    session.flush()
    return rows


def rekordbox_xml_class():
    """pyrekordbox's `RekordboxXml` reader.

    pyrekordbox's package __init__ also imports its database and ANLZ modules, which need construct>=2.10
    while gamdl (the worker extra) pins construct 2.8.8; so the Makefile installs it with --no-deps and
    its `rbxml` module (stdlib XML + bidict) is loaded here on its own, from the installed files."""
    name = "_pyrekordbox_files"
    if name not in sys.modules:
        spec = importlib.util.find_spec("pyrekordbox")
        assert spec is not None and spec.submodule_search_locations, \
            "pyrekordbox is not installed: `make install-dev` installs it"
        package = types.ModuleType(name)
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = package
    return importlib.import_module(f"{name}.rbxml").RekordboxXml
