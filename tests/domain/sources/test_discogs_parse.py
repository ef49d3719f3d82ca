"""Parsing Discogs JSON into rows DJs can trust (pure functions, no network)."""

from __future__ import annotations

import pytest

from services.domain.sources.base import MalformedResponse
from services.domain.sources.discogs.parse import (
    album_from_basic_information,
    clean_name,
    join_artists,
    parse_duration,
    parse_release,
)
from tests.fakes.discogs import basic_information, make_release


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("Moodymann (2)", "Moodymann"), ("Jeff Mills*", "Jeff Mills"), ("DJ Koze (12)*", "DJ Koze"),
     ("Prince (2)*", "Prince"), ("Theo Parrish", "Theo Parrish"), ("Model 500 (3) ", "Model 500"),
     ("Fourtet (UK)", "Fourtet (UK)"), ("", "")],
)
def test_clean_name(raw, clean):
    assert clean_name(raw) == clean


def test_join_artists_uses_join_words():
    artists = [{"name": "Kerri Chandler (2)", "join": "&"}, {"name": "Jerome Sydenham*", "join": "Feat."},
               {"name": "Arnold Jarvis", "join": ","}]
    assert join_artists(artists) == "Kerri Chandler & Jerome Sydenham Feat. Arnold Jarvis"
    assert join_artists([{"name": "A", "join": ","}, {"name": "B", "join": ""}]) == "A, B"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5:31", 331.0), ("0:45", 45.0), ("12:03", 723.0), ("1:02:03", 3723.0), ("", None), (None, None),
     ("abc", None), ("5:xx", None), ("0:00", None), ("7", None)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_release_basic_fields_and_vinyl_positions():
    raw = make_release(10, tracks=6)
    album, tracks = parse_release(raw)
    assert album.release_id == 10
    assert album.artist == "Artist 10"  # " (2)" removed
    assert album.label == "Label 10"  # label suffix removed too
    assert album.catalog_number == "CAT-00010"
    assert album.genres == raw["genres"] and album.styles == raw["styles"]
    assert album.year == 1980 and album.country == "UK"
    assert album.format == 'Vinyl, 12", 33 ⅓ RPM'
    assert [t.position for t in tracks] == ["A1", "A2", "A3", "B1", "B2", "B3"]
    assert [t.track_id for t in tracks][:2] == ["10-A1", "10-A2"]
    # extraartists (remixers) never become the artist
    assert all(t.artist == "Artist 10" for t in tracks)


def test_missing_duration_is_none_not_zero():
    raw = make_release(9, tracks=3)  # (9 + 0) % 9 == 0 -> first track has no duration
    _, tracks = parse_release(raw)
    assert tracks[0].duration_seconds is None
    assert tracks[1].duration_seconds and tracks[1].duration_seconds > 0


def test_various_artists_compilation_uses_track_artists():
    album, tracks = parse_release(make_release(21, tracks=4, kind="various"))
    assert album.artist == "Various"
    assert tracks[0].artist == "Comp Artist 0 & Guest 0"
    assert tracks[3].artist == "Comp Artist 3 & Guest 3"


def test_split_release_per_side_artists():
    _, tracks = parse_release(make_release(22, tracks=4, kind="split"))
    assert [t.artist for t in tracks] == ["Artist 22", "Artist 22", "Other Side Band", "Other Side Band"]


def test_headings_are_not_tracks():
    _, tracks = parse_release(make_release(23, tracks=4, kind="headings"))
    assert len(tracks) == 4
    assert all("Side" not in t.title for t in tracks)


def test_index_and_sub_tracks_flattened_with_positions():
    _, tracks = parse_release(make_release(24, tracks=2, kind="subtracks"))
    by_pos = {t.position: t for t in tracks}
    assert set(by_pos) == {"A1", "B1", "C1a", "C1b", "C2.a", "C2.b"}
    assert by_pos["C1a"].title == "Suite - Part I"
    assert by_pos["C1a"].duration_seconds == 3723.0  # h:mm:ss
    assert by_pos["C2.a"].duration_seconds is None
    assert by_pos["C2.b"].title == "Groove"


def test_double_letter_positions_and_duplicates_kept_distinct():
    raw = {"id": 5, "title": "T", "artists": [{"name": "X"}],
           "tracklist": [{"position": "AA", "type_": "track", "title": "Flip", "duration": "6:00"},
                         {"position": "A", "type_": "track", "title": "Main", "duration": "6:30"},
                         {"position": "A", "type_": "track", "title": "Dup", "duration": ""},
                         {"position": "", "type_": "track", "title": "No position", "duration": ""}]}
    _, tracks = parse_release(raw)
    assert [t.track_id for t in tracks] == ["5-AA", "5-A", "5-A#2", "5-4"]
    assert len({t.track_id for t in tracks}) == 4


def test_malformed_release_shape():
    with pytest.raises(MalformedResponse):
        parse_release({"title": "no id"})
    with pytest.raises(MalformedResponse):
        parse_release({"id": 3, "tracklist": "nope"})


def test_collection_item_basic_information():
    rel = make_release(40)
    item = {"id": 40, "instance_id": 1, "date_added": "2024-02-03T10:00:00-08:00", "rating": 4,
            "basic_information": basic_information(rel), "notes": [{"field_id": 3, "value": "VG+ sleeve"}]}
    album = album_from_basic_information(item)
    assert album.release_id == 40 and album.title == "Release 40"
    assert album.rating == 4 and album.notes == "VG+ sleeve"
    assert album.date_added.year == 2024
    item["rating"] = 0
    assert album_from_basic_information(item).rating is None
