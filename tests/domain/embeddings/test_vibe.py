"""Vibe search (services/domain/embeddings/vibe.py): the query parser, reciprocal rank fusion, and
mode=semantic|hybrid through search_tracks (vectors inserted directly, the query's vector patched)."""

from __future__ import annotations

import pytest

from services.domain.embeddings import service as embeddings
from services.domain.embeddings.vibe import parse_vibe, rrf
from services.domain.errors import Conflict, Invalid
from services.domain.search.models import SearchQuery
from services.domain.search.service import search_tracks
from tests.domain.embeddings.vector_fixtures import embed, track, vec


@pytest.mark.parametrize(("q", "text", "filters"), [
    ("dark rolling techno around 128 in A minor", "dark rolling techno", {"bpm_min": 125, "bpm_max": 131, "key": "8A"}),
    ("deep house 120-125", "deep house", {"bpm_min": 120, "bpm_max": 125}),
    ("128 bpm Am acid", "acid", {"bpm_min": 126.5, "bpm_max": 129.5, "key": "8A"}),
    ("8A warm up", "", {"key": "8A", "energy_max": 4.0}),
    ("peak time techno", "techno", {"energy_min": 7.0}),
    ("dub techno in F# minor", "dub techno", {"key": "11A"}),
    ("acid energy 8", "acid", {"energy_min": 7.5, "energy_max": 8.5}),
    ("90s house", "90s house", {}),
    ("I am groovy", "I am groovy", {}),
    ("rolling 174 dnb", "rolling dnb", {"bpm_min": 171, "bpm_max": 177}),
    ("melodic in C major", "melodic", {"key": "8B"}),
    ("top 1000 tunes", "top 1000 tunes", {}),
])
def test_parse_vibe(q, text, filters):
    parsed = parse_vibe(q)
    assert parsed.text == text
    assert parsed.filters() == pytest.approx(filters) if filters else parsed.filters() == {}


def test_rrf_fuses_by_reciprocal_rank():
    assert rrf([[1, 2, 3], [3, 1]]) == [1, 3, 2]
    assert rrf([[], [5, 4]]) == [5, 4]


@pytest.fixture
def vibes(db_session, owner_library, monkeypatch):
    user, lib = owner_library
    s, model = db_session, embeddings.text_model()
    rows = {
        "Dark Roller": track(s, lib, "Dark Roller", bpm=128.0, camelot="8A", styles=["Techno"]),
        "Dark Slow": track(s, lib, "Dark Slow", bpm=100.0, camelot="8A", styles=["Techno"]),
        "Sunny": track(s, lib, "Sunny Rolling", bpm=128.0, camelot="8A", styles=["Disco"]),
        "Greyish": track(s, lib, "Greyish", bpm=127.0, camelot="8A", styles=["Techno"]),
        "Unembedded": track(s, lib, "Unembedded", bpm=128.0, camelot="8A"),
    }
    embed(s, rows["Dark Roller"], text=vec((0, 1.0)), text_model=model)
    embed(s, rows["Dark Slow"], text=vec((0, 1.0)), text_model=model)
    embed(s, rows["Sunny"], text=vec((5, 1.0)), text_model=model)
    embed(s, rows["Greyish"], text=vec((0, 1.0), (5, 1.0)), text_model=model)
    asked = []

    def fake_embed_query(text, **_):
        asked.append(text)
        return vec((0, 1.0))

    monkeypatch.setattr(embeddings, "embed_query", fake_embed_query)
    return {"user": user, "rows": rows, "asked": asked}


def test_semantic_turns_numbers_and_keys_into_filters(db_session, vibes):
    q = SearchQuery(q="dark rolling techno around 128 in A minor", mode="semantic")
    result = search_tracks(session=db_session, user=vibes["user"], query=q)
    assert vibes["asked"] == ["dark rolling techno"]
    assert [i.title for i in result.items] == ["Dark Roller", "Greyish", "Sunny Rolling"]  # Dark Slow: 100 BPM
    assert result.total == 3 and result.backend == "pgvector"
    assert result.understood == {"text": "dark rolling techno", "filters": {"bpm_min": 125.0, "bpm_max": 131.0,
                                                                          "key": "8A"}}
    assert {f.value for f in result.facets.camelot} == {"8A"}
    explicit = search_tracks(session=db_session, user=vibes["user"],
                             query=SearchQuery(q="dark around 128", bpm_min=90, mode="semantic"))
    assert "Dark Slow" in [i.title for i in explicit.items]  # a parameter wins over the parsed filter
    with pytest.raises(Invalid, match="bpm_min"):
        search_tracks(session=db_session, user=vibes["user"],
                      query=SearchQuery(q="dark 100-110", bpm_min=120, mode="semantic"))
    by_bpm = search_tracks(session=db_session, user=vibes["user"],
                           query=SearchQuery(q="dark", mode="semantic", sort="-bpm"))
    assert [i.bpm for i in by_bpm.items] == [128.0, 128.0, 127.0, 100.0]


def test_hybrid_fuses_text_and_vector_rankings(db_session, vibes):
    result = search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q="rolling", mode="hybrid"))
    titles = [i.title for i in result.items]
    assert titles[0] in ("Dark Roller", "Sunny Rolling")  # first in one ranking each
    assert set(titles) == {"Dark Roller", "Dark Slow", "Greyish", "Sunny Rolling"}
    assert result.backend == "postgres+pgvector" and result.total == 4
    sunny = next(i for i in result.items if i.title == "Sunny Rolling")
    assert sunny.highlight["title"] == "Sunny <mark>Rolling</mark>"
    page = search_tracks(session=db_session, user=vibes["user"],
                         query=SearchQuery(q="rolling", mode="hybrid", limit=2, offset=2))
    assert [i.title for i in page.items] == titles[2:4]


def test_only_filters_left_browses_and_text_mode_is_unchanged(db_session, vibes):
    result = search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q="128 bpm 8A", mode="semantic"))
    assert vibes["asked"] == [] and {i.title for i in result.items} == {"Dark Roller", "Sunny Rolling", "Greyish", "Unembedded"}
    text = search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q="rolling"))
    assert [i.title for i in text.items] == ["Sunny Rolling"] and not hasattr(text, "understood")


def test_vibe_without_embeddings_is_a_conflict(db_session, owner_library):
    user, lib = owner_library
    track(db_session, lib, "Plain", bpm=120.0)
    with pytest.raises(Conflict, match="djp embeddings backfill") as exc:
        search_tracks(session=db_session, user=user, query=SearchQuery(q="moody dub", mode="hybrid"))
    assert exc.value.code == "embeddings_missing"
