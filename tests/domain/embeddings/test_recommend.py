"""Playlist suggestions (services/domain/embeddings/recommend.py): centroid + last track's neighbours, mixing
with the last track, nothing already in the playlist; the set builder's extend candidates."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.models import Library, Playlist, PlaylistTrack, User
from services.domain.embeddings import service as embeddings
from services.domain.embeddings.recommend import centroid, extension_candidates, suggest_next
from services.domain.errors import Conflict, Invalid, NotFound
from tests.domain.embeddings.vector_fixtures import embed, track, vec


def playlist_of(session, user, tracks) -> Playlist:
    p = Playlist(owner_id=user.id, name="Set")
    session.add(p)
    session.flush()
    session.add_all([PlaylistTrack(playlist_id=p.id, track_pk=t.id, position=n) for n, t in enumerate(tracks)])
    session.flush()
    return p


@pytest.fixture
def setlist(db_session, owner_library):
    user, lib = owner_library
    s, model = db_session, embeddings.text_model()
    first = track(s, lib, "Opener", bpm=122.0, camelot="7A", styles=["Deep House"])
    last = track(s, lib, "Now playing", bpm=124.0, camelot="8A", styles=["Deep House"])
    fits = track(s, lib, "Fits", bpm=125.0, camelot="9A", styles=["Deep House"])
    fits_later = track(s, lib, "Near the opener", bpm=123.0, camelot="8B")
    clash = track(s, lib, "Clash", bpm=124.0, camelot="2B")
    too_fast = track(s, lib, "Too fast", bpm=140.0, camelot="8A")
    unknown = track(s, lib, "Unanalysed")
    again = track(s, lib, "Opener again", track_id=first.track_id + "x")
    embed(s, first, text=vec((0, 1.0)), text_model=model)
    embed(s, last, text=vec((1, 1.0)), text_model=model)
    embed(s, fits, text=vec((1, 1.0), (0, 0.3)), text_model=model)
    embed(s, fits_later, text=vec((0, 1.0), (1, 0.1)), text_model=model)
    for t in (clash, too_fast, unknown, again):
        embed(s, t, text=vec((0, 1.0), (1, 1.0)), text_model=model)
    other = User(username="other", password_hash="x")
    s.add(other)
    s.flush()
    foreign_lib = Library(owner_id=other.id, name="theirs")
    s.add(foreign_lib)
    s.flush()
    foreign = track(s, foreign_lib, "Foreign", bpm=124.0, camelot="8A")
    embed(s, foreign, text=vec((1, 1.0)), text_model=model)
    return {"user": user, "other": other, "playlist": playlist_of(s, user, [first, last]), "last": last}


def test_suggestions_mix_with_the_last_track(db_session, setlist):
    found = suggest_next(session=db_session, user=setlist["user"], playlist_id=setlist["playlist"].id)
    assert [h.track.title for h in found.items] == ["Fits", "Near the opener"]
    assert found.after_track_pk == setlist["last"].id
    fits = found.items[0]
    assert fits.reasons.key_move == "adjacent" and fits.reasons.bpm_delta == 1.0 and fits.reasons.shared == ["Deep House"]
    assert found.items[1].reasons.key_move == "relative"
    assert extension_candidates(session=db_session, user=setlist["user"], playlist_id=setlist["playlist"].id,
                                add_count=1) == [h.track.id for h in found.items]


def test_refusals(db_session, setlist, owner_library):
    user, lib = owner_library
    with pytest.raises(NotFound):
        suggest_next(session=db_session, user=setlist["other"], playlist_id=setlist["playlist"].id)
    empty = playlist_of(db_session, user, [])
    with pytest.raises(Invalid, match="empty"):
        suggest_next(session=db_session, user=user, playlist_id=empty.id)
    bare = playlist_of(db_session, user, [track(db_session, lib, "No vector", bpm=120.0)])
    with pytest.raises(Conflict, match="djp embeddings backfill"):
        suggest_next(session=db_session, user=user, playlist_id=bare.id)
    with pytest.raises(Invalid, match="djp embeddings backfill") as exc:  # the set builder answers 422
        extension_candidates(session=db_session, user=user, playlist_id=bare.id, add_count=2)
    assert exc.value.code == "embeddings_missing"


def test_centroid_weighs_each_track_once():
    c = centroid([np.array([2.0, 0.0]), np.array([0.0, 0.5])])
    assert c == pytest.approx([2 ** -0.5, 2 ** -0.5])
