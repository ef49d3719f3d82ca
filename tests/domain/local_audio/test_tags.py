"""Tags read from real files (mutagen), and what a file's name says when it has none."""

from __future__ import annotations

import pytest

from services.domain.local_audio.tags import from_filename, read_tags
from tests.domain.local_audio.audio_files import make_audio


@pytest.mark.parametrize("ext", [".mp3", ".flac", ".ogg", ".m4a"])
def test_tags_of_each_format(tmp_path, ext):
    path = make_audio(tmp_path / f"x{ext}", seconds=3, artist="Sigur Rós", title="Svefn-g-englar", album="Ágætis byrjun")
    tags = read_tags(path)
    assert (tags.artist, tags.title, tags.album, tags.source) == ("Sigur Rós", "Svefn-g-englar", "Ágætis byrjun", "tags")
    assert tags.duration_seconds == pytest.approx(3, abs=0.2)


def test_a_file_without_tags_is_read_from_its_name(tmp_path):
    path = make_audio(tmp_path / "04 - Aphex Twin - Xtal.wav", seconds=2)
    tags = read_tags(path)
    assert (tags.artist, tags.title, tags.source) == ("Aphex Twin", "Xtal", "filename")
    # an upload stored under a temporary name is read by the name it came with
    renamed = path.rename(tmp_path / "0f3a.wav.part")
    assert read_tags(renamed, filename="A2_Moodymann_-_Shades_of_Jae.wav").artist == "Moodymann"


def test_a_title_tag_alone_keeps_the_names_artist(tmp_path):
    tags = read_tags(make_audio(tmp_path / "Daft Punk - Da Funk.mp3", seconds=2, title="Da Funk"))
    assert (tags.artist, tags.title, tags.source) == ("Daft Punk", "Da Funk", "filename")


def test_damaged_tags_fall_back_to_the_name(tmp_path):
    path = tmp_path / "Artist - Song.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\xff\xff\xff\xff" + b"\x00" * 64)  # an ID3 header with an impossible size
    tags = read_tags(path)
    assert (tags.artist, tags.title, tags.duration_seconds) == ("Artist", "Song", None)


@pytest.mark.parametrize("name, expected", [
    ("03 - Daft Punk - Around The World (Radio Edit).mp3", ("Daft Punk", "Around The World (Radio Edit)")),
    ("A2_Moodymann_-_Shades_of_Jae.flac", ("Moodymann", "Shades of Jae")),
    ("01-daft_punk-around_the_world.mp3", ("daft punk", "around the world")),
    ("1-04 Artist - Title.m4a", ("Artist", "Title")),
    ("03. Xtal.mp3", (None, "Xtal")),
    ("B1) Title.mp3", (None, "Title")),
    ("99 Luftballons.mp3", (None, "99 Luftballons")),  # a number that is the title, not a position
    ("Nena - 99 Luftballons.mp3", ("Nena", "99 Luftballons")),
    ("Track.mp3", (None, "Track")),
])
def test_names(name, expected):
    assert from_filename(name) == expected
