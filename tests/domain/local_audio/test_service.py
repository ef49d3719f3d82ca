"""Files matched to a library's tracks and attached, against the real PostgreSQL (its track search finds the
candidates); files are real audio with real tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.db import session_scope
from services.common.models import Library, Track, User
from services.common.settings import get_settings
from services.domain.errors import Forbidden, Invalid, NotFound
from services.domain.local_audio import service
from services.domain.local_audio.tags import FileTags
from tests.domain.local_audio.audio_files import make_audio

SECONDS = 6.0
RECORDS = [  # (artist, title, album)
    ("Daft Punk", "Around The World", "Homework"),
    ("Daft Punk", "Da Funk", "Homework"),
    ("Aphex Twin", "Xtal", "Selected Ambient Works 85-92"),
    ("Moodymann", "Shades Of Jae", "Silentintroduction"),
    ("Moodymann", "Shades Of Jae (Dub)", "Silentintroduction"),
    ("Sigur Rós", "Svefn-g-englar", "Ágætis byrjun"),
]


@pytest.fixture
def crate(committed_library) -> tuple[int, int, dict[str, int]]:
    """(user id, library id, {title: track id}): the records above, each as long as the test files."""
    user_id, library_id = committed_library
    with session_scope() as s:
        pks = {}
        for n, (artist, title, album) in enumerate(RECORDS):
            track = Track(track_id=f"{100 + n}-A1", library_id=library_id, title=title, artist=artist, album=album,
                          duration_seconds=SECONDS)
            s.add(track)
            s.flush()
            pks[title] = track.id
    return user_id, library_id, pks


def _import(user_id: int, library_id: int, path: Path, **options) -> service.FileImport:
    with session_scope() as s:
        return service.import_file(session=s, user=s.get(User, user_id), library_id=library_id, filename=path.name,
                                   chunks=[path.read_bytes()], **options)


def _audio_of(pk: int) -> str | None:
    with session_scope() as s:
        return s.get(Track, pk).local_audio_path


def _leftovers() -> list[Path]:
    return list((get_settings().resolved_audio_dir / ".uploads").glob("*"))


def test_tagged_file_is_attached_to_its_track(crate, tmp_path):
    user_id, library_id, pks = crate
    path = make_audio(tmp_path / "whatever.mp3", seconds=SECONDS, artist="Daft Punk", title="Around The World",
                      album="Homework")
    done = _import(user_id, library_id, path)
    assert done.status == "attached" and done.match.track_pk == pks["Around The World"]
    assert done.match.tags.source == "tags" and done.match.score >= 0.86
    pk = pks["Around The World"]
    assert done.local_audio_path == f"library_{library_id}/{pk}.mp3" == _audio_of(pk)
    stored = get_settings().resolved_audio_dir / done.local_audio_path
    assert stored.read_bytes() == path.read_bytes()
    with session_scope() as s:
        assert s.get(Track, pk).audio_source["method"] == "import"
    assert _audio_of(pks["Da Funk"]) is None and not _leftovers()


def test_names_typos_and_versions(crate, tmp_path):
    user_id, library_id, pks = crate
    by_name = _import(user_id, library_id, make_audio(tmp_path / "04 - Aphex Twin - Xtal.wav", seconds=SECONDS))
    assert by_name.status == "attached" and by_name.match.track_pk == pks["Xtal"]
    assert by_name.match.tags.source == "filename"
    typo = _import(user_id, library_id, make_audio(tmp_path / "a.flac", seconds=SECONDS, artist="Daft Pnuk",
                                                   title="Da Funk"))
    assert typo.status == "attached" and typo.match.track_pk == pks["Da Funk"]
    folded = _import(user_id, library_id, make_audio(tmp_path / "b.ogg", seconds=SECONDS, artist="Sigur Ros",
                                                     title="Svefn g englar"))
    assert folded.status == "attached" and folded.match.track_pk == pks["Svefn-g-englar"]
    # The dub is not the original: each file finds its own version.
    dub = _import(user_id, library_id, make_audio(tmp_path / "c.mp3", seconds=SECONDS, artist="Moodymann",
                                                  title="Shades of Jae (Dub)"))
    original = _import(user_id, library_id, make_audio(tmp_path / "d.mp3", seconds=SECONDS, artist="Moodymann",
                                                       title="Shades of Jae"))
    assert dub.match.track_pk == pks["Shades Of Jae (Dub)"] and original.match.track_pk == pks["Shades Of Jae"]
    assert {dub.status, original.status} == {"attached"}


def test_nothing_is_kept_of_a_file_that_matches_nothing(crate, tmp_path):
    user_id, library_id, pks = crate
    done = _import(user_id, library_id, make_audio(tmp_path / "x.mp3", seconds=SECONDS, artist="Burial",
                                                   title="Archangel"))
    assert done.status == "unmatched" and done.local_audio_path is None and done.match.candidates == []
    assert all(_audio_of(pk) is None for pk in pks.values()) and not _leftovers()


def test_a_different_length_is_not_a_clear_match(crate, tmp_path):
    """Same words, four times as long: another recording (an extended mix, a live take); the DJ decides."""
    user_id, library_id, pks = crate
    done = _import(user_id, library_id, make_audio(tmp_path / "x.mp3", seconds=SECONDS * 4, artist="Aphex Twin",
                                                   title="Xtal"))
    assert done.status == "ambiguous" and done.match.candidates[0].track_pk == pks["Xtal"]
    assert _audio_of(pks["Xtal"]) is None and not _leftovers()


def test_two_equal_candidates_are_left_to_the_dj(crate, tmp_path):
    user_id, library_id, pks = crate
    with session_scope() as s:  # the same track on a second record of the library
        s.add(Track(track_id="200-B2", library_id=library_id, title="Xtal", artist="Aphex Twin",
                    album="Warp 10+3", duration_seconds=SECONDS))
    done = _import(user_id, library_id, make_audio(tmp_path / "x.mp3", seconds=SECONDS, artist="Aphex Twin",
                                                   title="Xtal"))
    assert done.status == "ambiguous" and len(done.match.candidates) == 2
    assert pks["Xtal"] in {c.track_pk for c in done.match.candidates}


def test_audio_a_track_has_is_kept_unless_replaced(crate, tmp_path):
    user_id, library_id, pks = crate
    pk = pks["Da Funk"]
    first = _import(user_id, library_id, make_audio(tmp_path / "a.mp3", seconds=SECONDS, artist="Daft Punk",
                                                    title="Da Funk"))
    assert first.status == "attached"
    again = make_audio(tmp_path / "b.flac", seconds=SECONDS, frequency=660, artist="Daft Punk", title="Da Funk")
    kept = _import(user_id, library_id, again)
    assert kept.status == "has_audio" and _audio_of(pk) == first.local_audio_path
    replaced = _import(user_id, library_id, again, replace=True)
    assert replaced.status == "attached" and _audio_of(pk) == f"library_{library_id}/{pk}.flac"
    audio_dir = get_settings().resolved_audio_dir
    assert not (audio_dir / first.local_audio_path).exists()  # the mp3 it replaced is gone
    assert (audio_dir / replaced.local_audio_path).read_bytes() == again.read_bytes()


def test_bad_files_and_libraries(crate, tmp_path):
    user_id, library_id, _ = crate
    not_audio = tmp_path / "Daft Punk - Da Funk.mp3"
    not_audio.write_bytes(b"this is not audio" * 100)
    with pytest.raises(Invalid) as refused:
        _import(user_id, library_id, not_audio)
    assert refused.value.code == "not_audio"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(Invalid) as wrong_type:
        _import(user_id, library_id, text)
    assert wrong_type.value.code == "unsupported_audio"
    assert not _leftovers()
    with session_scope() as s:
        other = User(username="other", password_hash="x")
        s.add(other)
        s.flush()
        friend = Library(owner_id=user_id, name="a friend's", discogs_username="friend", is_friend=True)
        s.add(friend)
        s.flush()
        other_id, friend_id = other.id, friend.id
    song = make_audio(tmp_path / "Daft Punk - Da Funk.mp3", seconds=SECONDS)
    with pytest.raises(NotFound):
        _import(other_id, library_id, song)  # not theirs: not even there
    with pytest.raises(Forbidden):
        _import(user_id, friend_id, song)  # a friend's collection is read-only


def test_preview_copies_nothing(crate, tmp_path):
    user_id, library_id, pks = crate
    path = make_audio(tmp_path / "Aphex Twin - Xtal.mp3", seconds=SECONDS)
    with session_scope() as s:
        seen = service.preview_file(session=s, user=s.get(User, user_id), library_id=library_id, path=path)
    assert seen.status == "matched" and seen.match.track_pk == pks["Xtal"] and seen.local_audio_path is None
    assert _audio_of(pks["Xtal"]) is None


def test_match_tags_without_a_file(crate):
    user_id, library_id, pks = crate
    with session_scope() as s:
        found = service.match_tags(session=s, user=s.get(User, user_id), library_id=library_id,
                                   tags=FileTags(artist="daft punk", title="around the world", duration_seconds=SECONDS))
    assert found.status == "matched" and found.track_pk == pks["Around The World"]


def test_a_misspelt_title_of_the_files_length_is_still_its_track(crate, tmp_path):
    """Below the threshold, but the only candidate and as long as the file: attached. The same tags on a file
    of another length are left to the DJ."""
    user_id, library_id, pks = crate
    longer = _import(user_id, library_id, make_audio(tmp_path / "a.mp3", seconds=SECONDS * 4, artist="Daft Punk",
                                                     title="Aroud The Wrold"))
    assert longer.status != "attached" and _audio_of(pks["Around The World"]) is None
    same = _import(user_id, library_id, make_audio(tmp_path / "b.mp3", seconds=SECONDS, artist="Daft Punk",
                                                   title="Aroud The Wrold"))
    assert same.status == "attached" and same.match.track_pk == pks["Around The World"]
    assert service.SOLE_MATCH_FLOOR <= same.match.score < 0.86


def test_files_that_match_nothing_can_become_tracks(crate, tmp_path):
    """add_unmatched: a promo that is on no record becomes a track of a record made by hand, named by the
    file's album tag (two files of one album share it), else "Loose files"; a close call is still the DJ's."""
    user_id, library_id, pks = crate
    first = _import(user_id, library_id, make_audio(tmp_path / "a.mp3", seconds=SECONDS, artist="Burial",
                                                    title="Archangel", album="Untrue"), add_unmatched=True)
    second = _import(user_id, library_id, make_audio(tmp_path / "b.flac", seconds=SECONDS, artist="burial",
                                                     title="Near Dark", album="UNTRUE"), add_unmatched=True)
    loose = _import(user_id, library_id, make_audio(tmp_path / "Some Promo.wav", seconds=SECONDS),
                    add_unmatched=True)
    assert (first.status, second.status, loose.status) == ("created", "created", "created")
    with session_scope() as s:
        made = {t.title: t for t in s.query(Track).filter(Track.library_id == library_id,
                                                          Track.id.notin_(pks.values()))}
        assert set(made) == {"Archangel", "Near Dark", "Some Promo"}
        archangel = made["Archangel"]
        assert archangel.id == first.match.track_pk and archangel.local_audio_path == first.local_audio_path
        assert archangel.album_id == made["Near Dark"].album_id != made["Some Promo"].album_id
        assert (archangel.album, archangel.artist, archangel.duration_seconds) == ("Untrue", "Burial",
                                                                                   pytest.approx(SECONDS, abs=0.3))
        assert archangel.release_id < 0 and archangel.audio_source["method"] == "import"
        assert (made["Some Promo"].album, made["Some Promo"].artist) == ("Loose files", "Unknown artist")
    # The new track is found like any other: the same file again already has its audio.
    again = _import(user_id, library_id, make_audio(tmp_path / "c.mp3", seconds=SECONDS, artist="Burial",
                                                    title="Archangel"), add_unmatched=True)
    assert again.status == "has_audio" and again.match.track_pk == first.match.track_pk
    # A close call is not a new track.
    close = _import(user_id, library_id, make_audio(tmp_path / "d.mp3", seconds=SECONDS * 4, artist="Aphex Twin",
                                                    title="Xtal"), add_unmatched=True)
    assert close.status == "ambiguous" and _audio_of(pks["Xtal"]) is None
