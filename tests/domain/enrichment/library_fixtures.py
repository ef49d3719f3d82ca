"""A library of tracks to match against the catalog fakes (tests/fakes/catalogs.py), for the enrichment
service, job and web tests. A test module takes the fixtures it uses from here by assignment (always
`catalog_env`, which clears the catalog credentials from the environment), e.g.
`catalog_env, fake_apple = fx.catalog_env, fx.fake_apple`.

The fakes hold, besides their own seed songs (tests/domain/enrichment/sources/conftest.py):
- Apple Music: "Strings of Life" by Rhythim Is Rhythim twice, 372 s and 400 s: the library's 385 s track
  scores below the threshold with both (duration), so it goes to review with two candidates.
The library ("crate", owned by "dj"):
- "M83 - Midnight City" (244 s): exact on Apple Music (accepted); not on Spotify (no match).
- "Aphex Twin - Windowlicker" (367 s): exact on both (accepted).
- "Rhythim Is Rhythim - Strings Of Life" (385 s): ambiguous on Apple Music (review); not on Spotify.
- "Nobody Known - White Label Dub": on neither (no match).
- "M83 - Midnight City (Eric Prydz Remix)": its Apple Music link set by hand (kept, never searched).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.common.db import session_scope
from services.common.models import Library, Track, User
from services.domain.enrichment.sources.base import SourceNotConfigured  # noqa: F401 (re-exported for tests)
from services.domain.tracks.service import update_track
from tests.domain.enrichment.sources import conftest as catalogs

# The catalog fakes' fixtures, for the modules that take them from here (pytest finds them by these names).
catalog_env, apple_key, clock = catalogs.catalog_env, catalogs.apple_key, catalogs.clock
fake_apple, fake_spotify, fake_youtube = catalogs.fake_apple, catalogs.fake_spotify, catalogs.fake_youtube

MANUAL_APPLE_URL = "https://music.apple.com/us/song/set-by-hand/42"
STRINGS_372 = "https://music.apple.com/us/album/1600000001?i=1600000006"


@dataclass
class Crate:
    user_id: int
    library_id: int
    tracks: dict[str, int]  # short name -> track pk


def add_strings_of_life(fake_apple) -> None:
    fake_apple.add_song("1600000006", name="Strings of Life", artist="Rhythim Is Rhythim", album="Strings",
                        duration_ms=372_000)
    fake_apple.add_song("1600000007", name="Strings of Life", artist="Rhythim Is Rhythim", album="Innovator",
                        duration_ms=400_000)


def make_crate(*, username: str = "dj", user_id: int | None = None) -> Crate:
    """The library above, for an existing user (`user_id`) or a new one named `username`."""
    with session_scope() as s:
        if user_id is None:
            user = User(username=username, password_hash="x")
            s.add(user)
            s.flush()
            user_id = user.id
        library = Library(owner_id=user_id, name="crate")
        s.add(library)
        s.flush()
        rows = {
            "midnight": ("M83", "Midnight City", 244.0),
            "windowlicker": ("Aphex Twin", "Windowlicker", 367.0),
            "strings": ("Rhythim Is Rhythim", "Strings Of Life", 385.0),
            "unknown": ("Nobody Known", "White Label Dub", 300.0),
            "remix": ("M83", "Midnight City (Eric Prydz Remix)", 421.0),
        }
        tracks = {}
        for i, (key, (artist, title, seconds)) in enumerate(rows.items()):
            track = Track(library_id=library.id, track_id=f"manual-{i}", title=title, artist=artist,
                          duration_seconds=seconds)
            s.add(track)
            s.flush()
            tracks[key] = track.id
        user = s.get(User, user_id)
        update_track(session=s, user=user, track_pk=tracks["remix"], changes={"apple_music_url": MANUAL_APPLE_URL})
        return Crate(user_id=user_id, library_id=library.id, tracks=tracks)


@pytest.fixture
def crate(clean_db, fake_apple, fake_spotify) -> Crate:
    add_strings_of_life(fake_apple)
    return make_crate()


def forget_current_jobs() -> None:
    """Library ids restart at 1 in every test: forget which job each library's last auto-match was."""
    from services.common.db import get_redis

    keys = list(get_redis().scan_iter("djp:enrich:library:*"))
    if keys:
        get_redis().delete(*keys)
