"""Vibe search over HTTP (`GET /api/tracks/search?mode=semantic|hybrid`): the query read by OpenAI when it is
configured (the local fake) or by the rules, `understood.parsed_by` saying which; total and facets counting
the tracks the pages go through."""

from __future__ import annotations

import pytest

from services.common import db
from services.common.models import Library, Track, TrackEmbedding
from services.common.settings import get_settings
from services.domain.embeddings import service as embeddings
from services.domain.embeddings import vibe
from services.domain.enrichment.openai_assist import PARSE_FIELDS
from tests.domain.embeddings.vector_fixtures import vec
from tests.fakes.clock import FakeClock
from tests.fakes.openai_server import COMPLETIONS

# (title, bpm, camelot, styles, text vector or None: not embedded yet)
TRACKS = [("Warehouse Roller", 128.0, "8A", ["Techno"], vec((0, 1.0))),
          ("Slow Burner", 100.0, "8A", ["Techno"], vec((0, 1.0), (1, 0.2))),
          ("Disco Sun", 124.0, "8B", ["Disco"], vec((5, 1.0))),
          ("Fresh Import", 128.0, "8A", ["Techno"], None)]


@pytest.fixture(autouse=True)
def setup(monkeypatch):
    monkeypatch.setattr(vibe, "PARSE_CACHE", vibe.ParseCache(clock=FakeClock()))
    monkeypatch.setattr(embeddings, "embed_query", lambda text, **_: vec((0, 1.0)))


def _crate(owner_id: int) -> None:
    model = embeddings.text_model()
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates")
        s.add(lib)
        s.flush()
        for n, (title, bpm, camelot, styles, vector) in enumerate(TRACKS):
            t = Track(track_id=f"{owner_id}{n}-A1", library_id=lib.id, title=title, artist=f"Artist {n}", bpm=bpm,
                      camelot=camelot, styles=styles)
            s.add(t)
            s.flush()
            if vector is not None:
                s.add(TrackEmbedding(track_pk=t.id, kind="text", model=model, embedding=vector, source_hash="x"))


def _answer(**values) -> dict:
    out = {name: ([] if spec.get("type") == "array" else False if spec.get("type") == "boolean" else None)
           for name, spec in PARSE_FIELDS.items()}
    out["q"] = ""
    out.update(values)
    return out


def _search(client, **params) -> dict:
    r = client.get("/api/tracks/search", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_semantic_with_openai_configured(make_user, fake_openai, monkeypatch):
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")  # the vectors stay the local model's
    get_settings.cache_clear()
    alice = make_user("alice")
    _crate(alice.user_id)
    fake_openai.reply(_answer(q="warehouse", bpm_min=120, bpm_max=130, style=["Techno"]))
    body = _search(alice, q="warehouse techno in the 120s", mode="semantic")
    assert body["understood"] == {"text": "warehouse", "parsed_by": "openai",
                                  "filters": {"bpm_min": 120.0, "bpm_max": 130.0, "style": ["Techno"]}}
    assert [i["title"] for i in body["items"]] == ["Warehouse Roller", "Fresh Import"]
    assert body["total"] == 2 and {f["value"]: f["count"] for f in body["facets"]["styles"]} == {"Techno": 2}
    assert len(fake_openai.completions_seen()) == 1

    # a parameter wins over the parsed filter of the same name
    fake_openai.reply(_answer(q="warehouse", style=["Techno"]))
    body = _search(alice, q="warehouse vibes", mode="hybrid", style="Disco")
    assert body["understood"]["parsed_by"] == "openai" and [i["title"] for i in body["items"]] == ["Disco Sun"]

    # OpenAI failing (after its retry): the rules read it, and the answer says so
    fake_openai.fault(COMPLETIONS, "500", "500")
    body = _search(alice, q="roller 128 bpm", mode="semantic")
    assert body["understood"]["parsed_by"] == "rules" and "HTTP 500" in body["understood"]["fallback"]
    assert body["understood"]["filters"] == {"bpm_min": 126.5, "bpm_max": 129.5}
    assert [i["title"] for i in body["items"]] == ["Warehouse Roller", "Fresh Import"] and body["total"] == 2


def test_semantic_without_openai_total_and_facets_match_the_pages(make_user, no_openai):
    alice = make_user("alice")
    _crate(alice.user_id)
    first = _search(alice, q="deep 8A", mode="semantic", limit=2)
    assert first["understood"] == {"text": "deep", "filters": {"key": "8A"}, "parsed_by": "rules"}
    second = _search(alice, q="deep 8A", mode="semantic", limit=2, offset=2)
    titles = [i["title"] for i in first["items"] + second["items"]]
    assert titles == ["Warehouse Roller", "Slow Burner", "Fresh Import"]  # the unembedded one last
    assert first["total"] == second["total"] == 3
    assert first["facets"] == second["facets"]
    assert {f["value"]: f["count"] for f in first["facets"]["camelot"]} == {"8A": 3}
    assert sum(f["count"] for f in first["facets"]["library"]) == 3
