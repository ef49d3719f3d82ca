"""Embedding tracks: text and audio rows per (track, kind, model), unchanged sources skipped, edits re-embedded,
one model's vectors kept apart from another's, the active provider chosen from the settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.common.models import Track, TrackEmbedding
from services.common.settings import get_settings
from services.domain.embeddings import service
from services.domain.embeddings.features import AUDIO_MODEL
from services.domain.embeddings.providers import (
    EmbeddingProvider,
    LocalProvider,
    OpenAIProvider,
    get_provider,
)
from services.domain.errors import Invalid, Refused
from services.domain.lru import LruCache
from services.domain.tracks.service import update_track


class Counting(EmbeddingProvider):
    """Wraps a provider and records every text it is asked to embed."""

    def __init__(self, inner: EmbeddingProvider, model: str | None = None) -> None:
        self.inner, self.model, self.texts = inner, model or inner.model, []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.fixture
def local(monkeypatch):
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")
    get_settings.cache_clear()
    yield Counting(get_provider("local"))
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def tracks(db_session, owner_library):
    user, library = owner_library
    rows = [Track(track_id="1-A1", library_id=library.id, title="Night Drive", artist="Kerri", genres=["Electronic"],
                  styles=["Deep House"], bpm=122.0, camelot="8A", energy=5.0, analyzed_at=datetime.now(UTC)),
            Track(track_id="1-A2", library_id=library.id, title="Iron Storm", artist="Hammer", styles=["Thrash"]),
            Track(track_id="1-B1", library_id=library.id, title="Gone", artist="X", deleted_at=datetime.now(UTC))]
    db_session.add_all(rows)
    db_session.flush()
    return user, library, rows


def _rows(session, **where):
    return list(session.scalars(select(TrackEmbedding).filter_by(**where).order_by(TrackEmbedding.track_pk)))


def test_embeds_text_and_audio_and_skips_unchanged(db_session, tracks, local):
    _, _, (analysed, plain, deleted) = tracks
    first = service.embed_tracks(db_session, track_pks=[analysed.id, plain.id, deleted.id], provider=local)
    assert first["tracks"] == 2 and first["text"] == {"embedded": 2, "unchanged": 0}
    assert first["audio"]["embedded"] == 1 and first["audio"]["unanalysed"] == 1
    text_rows = _rows(db_session, kind="text", model=local.model)
    assert [r.track_pk for r in text_rows] == [analysed.id, plain.id]
    assert len(text_rows[0].embedding) == 384 and len(text_rows[0].source_hash) == 64
    assert [r.track_pk for r in _rows(db_session, kind="audio", model=AUDIO_MODEL)] == [analysed.id]
    assert len(local.texts) == 2 and local.texts[0].startswith("Kerri - Night Drive")

    again = service.embed_tracks(db_session, track_pks=[analysed.id, plain.id], provider=local)
    assert again["text"] == {"embedded": 0, "unchanged": 2} and again["audio"]["unchanged"] == 1
    assert len(local.texts) == 2  # nothing sent to the model again


def test_an_edit_re_embeds_only_the_changed_track(db_session, tracks, local):
    user, _, (analysed, plain, _) = tracks
    service.embed_tracks(db_session, track_pks=[analysed.id, plain.id], provider=local)
    before = {r.track_pk: r.source_hash for r in _rows(db_session, kind="text")}
    update_track(session=db_session, user=user, track_pk=plain.id, changes={"notes": "peak time banger"})
    result = service.embed_tracks(db_session, track_pks=[analysed.id, plain.id], provider=local)
    assert result["text"] == {"embedded": 1, "unchanged": 1}
    after = {r.track_pk: r.source_hash for r in _rows(db_session, kind="text")}
    assert after[analysed.id] == before[analysed.id] and after[plain.id] != before[plain.id]
    assert "Notes: peak time banger" in local.texts[-1]
    # a re-analysis that changes the tempo re-embeds the audio vector, one that does not leaves it
    analysed.bpm = 128.0
    assert service.embed_tracks(db_session, track_pks=[analysed.id], provider=local)["audio"]["embedded"] == 1
    assert service.embed_tracks(db_session, track_pks=[analysed.id], provider=local)["audio"]["unchanged"] == 1
    # an analysis removed: the stale audio vector goes
    analysed.bpm = analysed.camelot = analysed.energy = analysed.analyzed_at = None
    assert service.embed_tracks(db_session, track_pks=[analysed.id], provider=local)["audio"]["removed"] == 1
    assert _rows(db_session, kind="audio") == []


def test_models_are_kept_apart_and_status_counts_the_active_one(db_session, tracks, local):
    _, library, (analysed, plain, _) = tracks
    other = Counting(local.inner, model="test:other-model")
    service.embed_tracks(db_session, track_pks=[analysed.id], provider=other)
    status = service.embedding_status(db_session, library_id=library.id)
    assert status["text_model"] == local.model and status["tracks"] == 2 and status["analysed"] == 1
    assert status["text"] == {"embedded": 0, "missing": 2} and not status["complete"]
    assert {"kind": "text", "model": "test:other-model", "count": 1} in status["stored"]
    assert service.tracks_missing(db_session, library_id=library.id) == [analysed.id, plain.id]
    assert service.tracks_missing(db_session, library_id=library.id, model="test:other-model") == [plain.id]

    done = []
    totals = service.backfill(db_session, library_id=library.id, batch_size=1, provider=local,
                              progress=lambda d, t: done.append((d, t)))
    assert totals["text"]["embedded"] == 2 and done == [(0, 2), (1, 2), (2, 2)]
    status = service.embedding_status(db_session, library_id=library.id)
    assert status["text"] == {"embedded": 2, "missing": 0} and status["audio"] == {"embedded": 1, "missing": 0}
    assert status["complete"]
    # the other model's row is untouched: one row per (track, kind, model)
    assert len(_rows(db_session, kind="text", track_pk=analysed.id)) == 2


def test_active_provider_follows_the_settings(monkeypatch, fake_openai):
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "auto")
    get_settings.cache_clear()
    assert isinstance(service.active_provider(), OpenAIProvider)  # a key is set: auto picks OpenAI
    assert service.text_model() == "openai:text-embedding-3-small@384"
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")
    get_settings.cache_clear()
    assert isinstance(service.active_provider(), LocalProvider)
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "openai")
    get_settings.cache_clear()
    with pytest.raises(Refused, match="OPENAI_API_KEY"):
        service.active_provider()
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "auto")
    get_settings.cache_clear()
    assert service.text_model() == "local:all-MiniLM-L6-v2-int8"


def test_embed_query(local):
    vector = service.embed_query("  dark   rolling techno ")
    assert len(vector) == 384
    with pytest.raises(Invalid):
        service.embed_query("   ")


def test_query_vectors_are_cached_per_model_and_text(local, monkeypatch):
    monkeypatch.setattr(service, "QUERY_CACHE", LruCache(size=2))
    monkeypatch.setattr(service, "active_provider", lambda: local)
    first = service.embed_query("dark  rolling techno")
    assert service.embed_query(" dark rolling techno ") == first  # same text once spaces are folded
    assert local.texts == ["dark rolling techno"]
    service.embed_query("acid")
    service.embed_query("dub")  # the cache holds two: "dark rolling techno" (least recent) is dropped
    service.embed_query("dark rolling techno")
    assert local.texts == ["dark rolling techno", "acid", "dub", "dark rolling techno"]
    # another model's vector of the same text is never reused
    monkeypatch.setattr(service, "active_provider", lambda: Counting(local.inner, model="other-model"))
    service.embed_query("dub")
    assert local.texts[-1] == "dark rolling techno"  # the Counting above records its own texts, not these
    assert service.QUERY_CACHE.get(("other-model", "dub")) is not None


def test_an_explicit_provider_is_not_cached(local, monkeypatch):
    monkeypatch.setattr(service, "QUERY_CACHE", LruCache(size=256))
    service.embed_query("acid", provider=local)
    service.embed_query("acid", provider=local)
    assert local.texts == ["acid", "acid"]
