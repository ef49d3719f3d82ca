"""The MeiliSearch backend's pure parts (run everywhere; the server half is in test_contract.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.models import Track
from services.domain.search.base import Scope
from services.domain.search.meili import document, facets_from, filter_expression, sort_expression
from services.domain.search.models import SearchQuery


def test_filters_are_quoted_and_complete():
    query = SearchQuery(bpm_min=120, bpm_max=128, half_double=True, compatible_with="8A", energy_min=5,
                        style=['Drum "n" Bass', "Jungle\\"], match="all", has_audio=False, year_max=1999)
    expr = filter_expression(query, Scope(libraries={3: "a", 7: "b"}), playlist_pks=[11, 12])
    assert expr.startswith("library_id IN [3, 7] AND (bpm 120.0 TO 128.0 OR bpm 60.0 TO 64.0 OR bpm 240.0 TO 256.0)")
    assert 'camelot IN ["7A", "8A", "8B", "9A"]' in expr
    assert 'styles = "Drum \\"n\\" Bass" AND styles = "Jungle\\\\"' in expr  # quotes cannot end the string
    assert "energy >= 5.0" in expr and "year <= 1999" in expr and "has_audio = false" in expr
    assert expr.endswith("id IN [11, 12]")
    assert "id NOT IN [11, 12]" in filter_expression(SearchQuery(in_playlist=False), Scope(libraries={1: "a"}), [11, 12])
    assert "id = -1" in filter_expression(SearchQuery(), Scope(libraries={1: "a"}), [])  # empty playlist: nothing


def test_sorts_put_ties_in_a_stable_order():
    assert sort_expression(SearchQuery(q="x")) is None  # relevance: Meili's ranking rules
    assert sort_expression(SearchQuery()) == ["added:desc", "id:asc"]
    assert sort_expression(SearchQuery(sort="-key")) == ["camelot_number:desc", "camelot_letter:desc", "id:asc"]


def test_documents_and_facets_match_the_postgres_shapes():
    track = Track(id=5, library_id=2, title="Hoppípolla", artist="Sigur Rós", bpm=124.6, camelot="11B", energy=6.6,
                  genres=["Rock"], styles=[], tags=["sad"], created_at=datetime(2026, 1, 1, tzinfo=UTC),
                  local_audio_path="x.flac")
    doc = document(track)
    assert doc["bpm_bucket"] == "120" and doc["energy_bucket"] == "7" and doc["camelot_number"] == 11
    assert doc["title_sort"] == "hoppipolla" and doc["has_audio"] is True and doc["analyzed"] is False
    facets = facets_from({"bpm_bucket": {"120": 3, "95": 1}, "camelot": {"11B": 1, "2A": 2}, "library_id": {"2": 4}})
    assert [f.value for f in facets.bpm] == ["95-100", "120-125"]
    assert [f.value for f in facets.camelot] == ["2A", "11B"] and facets.library[0].count == 4
