"""Similar tracks (services/domain/embeddings/similar.py): nearest neighbours by model, blended with tempo and
key, each with reasons; only readable libraries; a clear Conflict without embeddings."""

from __future__ import annotations

import pytest

from services.common.models import Library, LibraryShare, User
from services.domain.embeddings import service as embeddings
from services.domain.embeddings.similar import rank, similar_tracks
from services.domain.errors import Conflict, Invalid, NotFound, Unavailable, Refused
from tests.domain.embeddings.vector_fixtures import embed, track, vec


@pytest.fixture
def crate(db_session, owner_library):
    """A seed and neighbours at known distances (text and audio vectors of the active models)."""
    user, lib = owner_library
    model = embeddings.text_model()
    s = db_session
    seed = track(s, lib, "Seed", bpm=124.0, camelot="8A", genres=["Electronic"], styles=["Deep House", "Detroit"])
    near = track(s, lib, "Near", bpm=125.5, camelot="9A", genres=["Electronic"], styles=["Detroit", "Deep House"])
    mid = track(s, lib, "Mid", bpm=124.0, camelot="3B", styles=["Techno"])
    far = track(s, lib, "Far", bpm=90.0, camelot="8A", styles=["Dub"])
    audio_only = track(s, lib, "Audio only", bpm=124.0, camelot="8A")
    embed(s, seed, text=vec((0, 1.0)), audio=vec((10, 1.0)), text_model=model)
    embed(s, near, text=vec((0, 1.0), (1, 0.2)), audio=vec((10, 1.0), (11, 0.2)), text_model=model)
    embed(s, mid, text=vec((0, 1.0), (1, 1.0)), audio=vec((10, 1.0), (11, 1.0)), text_model=model)
    embed(s, far, text=vec((2, 1.0)), audio=vec((12, 1.0)), text_model=model)
    embed(s, audio_only, audio=vec((10, 1.0), (11, 0.5)), text_model=model)
    return {"user": user, "lib": lib, "seed": seed, "near": near, "mid": mid, "far": far, "audio_only": audio_only,
            "model": model}


def titles(result) -> list[str]:
    return [h.track.title for h in result.items]


def test_neighbours_come_with_their_reasons(db_session, crate):
    result = similar_tracks(session=db_session, user=crate["user"], track_pk=crate["seed"].id, limit=10)
    assert titles(result)[0] == "Near" and titles(result)[-1] == "Far"
    assert "Seed" not in titles(result)
    near = result.items[0]
    assert near.reasons.bpm_delta == 1.5 and near.reasons.key_move == "adjacent"
    assert near.reasons.shared == ["Deep House", "Detroit", "Electronic"]  # styles first, in the seed's order
    assert near.reasons.similarity == pytest.approx(0.98, abs=0.01)
    assert near.reasons.text_similarity == near.reasons.audio_similarity
    mid = next(h for h in result.items if h.track.title == "Mid")
    assert mid.reasons.key_move == "clash" and mid.reasons.shared == []
    only = next(h for h in result.items if h.track.title == "Audio only")
    assert only.reasons.text_similarity is None and only.reasons.audio_similarity is not None
    assert only.reasons.similarity == only.reasons.audio_similarity  # blended over the kinds it has
    assert result.models == {"text": crate["model"], "audio": "audio-features-v1"}
    assert [h.score for h in result.items] == sorted((h.score for h in result.items), reverse=True)
    assert titles(similar_tracks(session=db_session, user=crate["user"], track_pk=crate["seed"].id, limit=2)) == \
        titles(result)[:2]


def test_compatible_keeps_tracks_that_mix(db_session, crate):
    result = similar_tracks(session=db_session, user=crate["user"], track_pk=crate["seed"].id, compatible=True)
    assert set(titles(result)) == {"Near", "Audio only"}  # Mid clashes (3B), Far is at 90 BPM
    assert result.compatible is True
    crate["seed"].bpm = None
    db_session.flush()
    with pytest.raises(Invalid, match="BPM and key"):
        similar_tracks(session=db_session, user=crate["user"], track_pk=crate["seed"].id, compatible=True)


def test_other_models_and_unreadable_libraries_are_never_compared(db_session, crate):
    s, model = db_session, crate["model"]
    other_user = User(username="other", password_hash="x")
    s.add(other_user)
    s.flush()
    theirs = Library(owner_id=other_user.id, name="theirs")
    shared = Library(owner_id=other_user.id, name="shared")
    s.add_all([theirs, shared])
    s.flush()
    s.add(LibraryShare(library_id=shared.id, user_id=crate["user"].id))
    twin = track(s, theirs, "Twin", bpm=124.0, camelot="8A")
    friendly = track(s, shared, "Friendly", bpm=124.0, camelot="8A")
    foreign = track(s, crate["lib"], "Foreign model", bpm=124.0, camelot="8A")
    same_record = track(s, shared, "Seed elsewhere", track_id=crate["seed"].track_id)
    for t in (twin, friendly, same_record):
        embed(s, t, text=vec((0, 1.0)), audio=vec((10, 1.0)), text_model=model)
    embed(s, foreign, text=vec((0, 1.0)), text_model="some-other-model", audio_model="audio-features-v0")
    result = similar_tracks(session=s, user=crate["user"], track_pk=crate["seed"].id, limit=50)
    assert "Friendly" in titles(result)
    assert not {"Twin", "Foreign model", "Seed elsewhere"} & set(titles(result))
    only_shared = similar_tracks(session=s, user=crate["user"], track_pk=crate["seed"].id, library_ids=[shared.id])
    assert titles(only_shared) == ["Friendly"]
    with pytest.raises(NotFound):
        similar_tracks(session=s, user=crate["user"], track_pk=crate["seed"].id, library_ids=[theirs.id])
    with pytest.raises(NotFound):
        similar_tracks(session=s, user=crate["user"], track_pk=twin.id)


def test_without_embeddings_it_says_to_backfill(db_session, owner_library):
    user, lib = owner_library
    t = track(db_session, lib, "Lonely", bpm=120.0, camelot="8A")
    embed(db_session, t, text=vec((0, 1.0)), text_model="some-other-model")
    with pytest.raises(Conflict, match="djp embeddings backfill") as exc:
        similar_tracks(session=db_session, user=user, track_pk=t.id)
    assert exc.value.code == "embeddings_missing"


def test_rank_averages_several_query_vectors(db_session, crate):
    models = {"text": crate["model"]}
    hits = rank(db_session, anchor=crate["seed"], queries={"text": [vec((0, 1.0)), vec((2, 1.0))]}, models=models,
                libraries={crate["lib"].id: "crate"}, exclude_pks=[crate["seed"].id], limit=10)
    far = next(h for h in hits if h.track.title == "Far")
    assert far.reasons.text_similarity == pytest.approx(0.5, abs=0.01)  # (0 + 1) / 2


def test_real_embeddings_find_the_same_artist_and_style(db_session, owner_library):
    """Through the core's embed_tracks and the active (local) model."""
    user, lib = owner_library
    s = db_session
    rows = [track(s, lib, "Strings of Life", artist="Rhythim Is Rhythim", styles=["Detroit Techno"], bpm=124.0,
                  camelot="8A"),
            track(s, lib, "Nude Photo", artist="Rhythim Is Rhythim", styles=["Detroit Techno"], bpm=125.0,
                  camelot="8A"),
            track(s, lib, "Sweet Baby James", artist="James Taylor", styles=["Folk Rock", "Acoustic"]),
            track(s, lib, "Ave Maria", artist="Franz Schubert", styles=["Romantic", "Choral"])]
    try:
        embeddings.embed_tracks(s, track_pks=[t.id for t in rows])
    except (Unavailable, Refused) as exc:
        pytest.skip(f"local embedding model unavailable: {exc}")
    result = similar_tracks(session=s, user=user, track_pk=rows[0].id, limit=3)
    assert titles(result)[0] == "Nude Photo"
    assert result.items[0].reasons.shared == ["Detroit Techno"]
