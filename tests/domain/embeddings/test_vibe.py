"""Vibe search (services/domain/embeddings/vibe.py): the query parser, reciprocal rank fusion, and
mode=semantic|hybrid through search_tracks (vectors inserted directly, the query's vector patched)."""

from __future__ import annotations

import pytest

from services.domain.embeddings import service as embeddings
from services.domain.embeddings import vibe
from services.domain.embeddings.vibe import ParseCache, parse_vibe, rrf
from services.domain.errors import Conflict, Invalid
from services.domain.search.models import SearchQuery
from services.domain.search.service import search_tracks
from tests.domain.embeddings.vector_fixtures import embed, track, vec
from tests.fakes.clock import FakeClock


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


@pytest.fixture(autouse=True)
def parse_cache(monkeypatch, no_openai) -> ParseCache:
    """No OpenAI unless a test points the settings at the fake, and a fresh parse cache on a fake clock."""
    cache = ParseCache(clock=FakeClock())
    monkeypatch.setattr(vibe, "PARSE_CACHE", cache)
    return cache


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
    # Dark Slow: 100 BPM; Unembedded has no vector yet: after the ranked ones, still counted and pageable
    assert [i.title for i in result.items] == ["Dark Roller", "Greyish", "Sunny Rolling", "Unembedded"]
    assert result.total == 4 and result.backend == "pgvector"
    assert result.understood == {"text": "dark rolling techno", "filters": {"bpm_min": 125.0, "bpm_max": 131.0,
                                                                          "key": "8A"}, "parsed_by": "rules"}
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
    assert by_bpm.total == 4  # sorted by a field: the nearest POOL, the unembedded not among them


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


# -- total and facets: the set the pages go through ---------------------------------------------------------


def _page_through(session, user, **params) -> tuple[list[str], object]:
    first = search_tracks(session=session, user=user, query=SearchQuery(**params, limit=2))
    titles = []
    for offset in range(0, first.total + 4, 2):  # two pages past the end: empty
        page = search_tracks(session=session, user=user, query=SearchQuery(**params, limit=2, offset=offset))
        assert page.total == first.total and page.facets == first.facets  # every page tells the same
        titles += [i.title for i in page.items]
    return titles, first


def _facet(result, name) -> dict[str, int]:
    return {f.value: f.count for f in getattr(result.facets, name)}


def test_semantic_total_and_facets_count_the_tracks_the_pages_show(db_session, vibes):
    user = vibes["user"]
    titles, result = _page_through(db_session, user, q="dark", mode="semantic")
    assert sorted(titles[:2]) == ["Dark Roller", "Dark Slow"]  # the same vector: a tie
    assert titles[2:] == ["Greyish", "Sunny Rolling", "Unembedded"]
    assert result.total == len(titles) == 5
    assert _facet(result, "library") == {str(vibes["rows"]["Dark Roller"].library_id): 5}
    assert _facet(result, "camelot") == {"8A": 5} and _facet(result, "bpm") == {"100-105": 1, "125-130": 4}
    assert _facet(result, "styles") == {"Techno": 3, "Disco": 1}
    # with filters: the same rule (Unembedded is 128 BPM, Dark Slow is not)
    titles, result = _page_through(db_session, user, q="dark", mode="semantic", bpm_min=120)
    assert titles == ["Dark Roller", "Greyish", "Sunny Rolling", "Unembedded"] and result.total == 4
    assert _facet(result, "bpm") == {"125-130": 4}


def test_sorted_semantic_and_hybrid_count_their_pool(db_session, vibes):
    user = vibes["user"]
    titles, result = _page_through(db_session, user, q="dark", mode="semantic", sort="bpm")
    assert titles == ["Dark Slow", "Greyish", "Dark Roller", "Sunny Rolling"] and result.total == 4
    assert _facet(result, "bpm") == {"100-105": 1, "125-130": 3} and _facet(result, "styles") == {"Techno": 3,
                                                                                                  "Disco": 1}
    titles, result = _page_through(db_session, user, q="rolling", mode="hybrid")
    assert sorted(titles) == ["Dark Roller", "Dark Slow", "Greyish", "Sunny Rolling"] and result.total == 4
    assert sum(_facet(result, "library").values()) == 4 and _facet(result, "camelot") == {"8A": 4}


# -- reading the query with OpenAI (the local fake) ---------------------------------------------------------


@pytest.fixture
def parser(fake_openai, monkeypatch):
    """The fake OpenAI for parsing; the vectors stay the local model's (what `vibes` stored)."""
    from services.common.settings import get_settings

    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")
    get_settings.cache_clear()
    return fake_openai


def _answer(**values) -> dict:
    """A track_search answer: every field of the schema, null/empty unless given."""
    from services.domain.enrichment import openai_assist

    out = {name: ([] if spec.get("type") == "array" else False if spec.get("type") == "boolean" else None)
           for name, spec in openai_assist.PARSE_FIELDS.items()}
    out["q"] = ""
    out.update(values)
    return out


def test_openai_reads_the_query_when_configured(db_session, vibes, parser, parse_cache):
    user = vibes["user"]
    parser.reply(_answer(q="dark", bpm_min=95, bpm_max=105, key="A minor", style=["Techno"]))
    q = "dark slow techno, a hundred beats, A minor"
    result = search_tracks(session=db_session, user=user, query=SearchQuery(q=q, mode="semantic"))
    assert [i.title for i in result.items] == ["Dark Slow"] and result.total == 1
    assert result.understood == {"text": "dark", "parsed_by": "openai", "filters": {
        "bpm_min": 95.0, "bpm_max": 105.0, "key": "8A", "style": ["Techno"]}}
    assert vibes["asked"] == ["dark"]
    (body,) = parser.bodies
    assert body["messages"][-1]["content"] == q and body["response_format"]["json_schema"]["name"] == "track_search"

    # the same text again (the next page, typing back): the kept parse, no second call
    again = search_tracks(session=db_session, user=user, query=SearchQuery(q=q, mode="semantic", offset=1))
    assert again.understood["parsed_by"] == "openai" and again.total == 1
    assert len(parser.completions_seen()) == 1
    parse_cache.clock.now += vibe.PARSE_TTL  # expired: asked again (the fake's default answer: words only)
    fresh = search_tracks(session=db_session, user=user, query=SearchQuery(q=q, mode="semantic"))
    assert len(parser.completions_seen()) == 2
    assert fresh.understood == {"text": q, "filters": {}, "parsed_by": "openai"}


def test_parameters_win_over_openais_filters(db_session, vibes, parser):
    user = vibes["user"]
    parser.reply(_answer(q="dark", bpm_min=120, bpm_max=130, style=["Techno"]))
    result = search_tracks(session=db_session, user=user,
                           query=SearchQuery(q="dark techno 125", style=["Disco"], mode="semantic"))
    assert [i.title for i in result.items] == ["Sunny Rolling"]
    assert result.understood["parsed_by"] == "openai"
    # filters that clash with the parameters: the rules read it instead (not a 422 because of the model)
    parser.reply(_answer(q="dark", bpm_min=95, bpm_max=105))
    clash = search_tracks(session=db_session, user=user,
                          query=SearchQuery(q="dark slow 128", bpm_min=120, mode="semantic"))
    assert clash.understood["parsed_by"] == "rules" and "clash" in clash.understood["fallback"]
    assert clash.understood["filters"] == {"bpm_min": 125.0, "bpm_max": 131.0}
    assert "Dark Slow" not in [i.title for i in clash.items]


def test_an_api_failure_falls_back_to_the_rules_and_pauses_openai(db_session, vibes, parser, parse_cache):
    from tests.fakes.openai_server import COMPLETIONS

    user = vibes["user"]
    parser.fault(COMPLETIONS, "500", "500")  # the first attempt and its one retry
    q = "dark rolling techno around 128 in A minor"
    result = search_tracks(session=db_session, user=user, query=SearchQuery(q=q, mode="semantic"))
    assert len(parser.completions_seen()) == vibe.PARSE_RETRIES_MAX + 1
    assert result.understood["parsed_by"] == "rules" and "HTTP 500" in result.understood["fallback"]
    assert result.understood["filters"] == {"bpm_min": 125.0, "bpm_max": 131.0, "key": "8A"}
    assert [i.title for i in result.items][:3] == ["Dark Roller", "Greyish", "Sunny Rolling"]
    # another text while the pause lasts: the rules, OpenAI not asked
    other = search_tracks(session=db_session, user=user, query=SearchQuery(q="dark 100-105", mode="semantic"))
    assert other.understood["parsed_by"] == "rules" and "HTTP 500" in other.understood["fallback"]
    assert [i.title for i in other.items] == ["Dark Slow"]
    assert len(parser.completions_seen()) == 2
    parse_cache.clock.now += vibe.FAILED_TTL
    back = search_tracks(session=db_session, user=user, query=SearchQuery(q="dark 100-105", mode="semantic"))
    assert back.understood["parsed_by"] == "openai" and len(parser.completions_seen()) == 3


def test_a_retried_error_that_recovers_is_still_openai(db_session, vibes, parser):
    from tests.fakes.openai_server import COMPLETIONS

    parser.fault(COMPLETIONS, "429:0")
    parser.reply(_answer(q="dark", bpm_min=95, bpm_max=105))
    result = search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q="dark slow", mode="semantic"))
    assert result.understood["parsed_by"] == "openai" and [i.title for i in result.items] == ["Dark Slow"]
    assert len(parser.completions_seen()) == 2


@pytest.mark.parametrize(("fault", "answer", "why"), [
    ("content:notjson", None, "not JSON"),
    (None, {"q": "x", "mood": "dark"}, "unknown fields: mood"),
    (None, _answer(bpm_min=130, bpm_max=120), "bpm_min must be <= bpm_max"),
    (None, _answer(key="H sharp major"), "key"),
    (None, _answer(bpm_min=20, bpm_max=30), "bpm_min: 20 is not a tempo"),
    (None, _answer(energy_max=40), "energy_max"),
])
def test_a_bad_answer_falls_back_to_the_rules_for_that_text(db_session, vibes, parser, fault, answer, why):
    from tests.fakes.openai_server import COMPLETIONS

    if fault:
        parser.fault(COMPLETIONS, fault)
    if answer:
        parser.reply(answer)
    q = "dark 100-105"
    result = search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q=q, mode="semantic"))
    assert result.understood["parsed_by"] == "rules" and why in result.understood["fallback"]
    assert result.understood["filters"] == {"bpm_min": 100.0, "bpm_max": 105.0}
    assert [i.title for i in result.items] == ["Dark Slow"]
    search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q=q, mode="semantic"))
    assert len(parser.completions_seen()) == 1  # that text is not asked again for a while
    other = search_tracks(session=db_session, user=vibes["user"], query=SearchQuery(q="dark", mode="semantic"))
    assert other.understood["parsed_by"] == "openai"  # a bad answer does not pause OpenAI for other texts


def test_without_openai_the_rules_read_it_and_nothing_is_sent(db_session, vibes, parser, monkeypatch):
    from services.common.settings import get_settings

    monkeypatch.delenv("OPENAI_API_KEY")
    get_settings.cache_clear()
    result = search_tracks(session=db_session, user=vibes["user"],
                           query=SearchQuery(q="dark 100-105", mode="hybrid"))
    assert result.understood == {"text": "dark", "filters": {"bpm_min": 100.0, "bpm_max": 105.0},
                                 "parsed_by": "rules"}
    assert [i.title for i in result.items] == ["Dark Slow"]
    assert parser.requests == []  # not one request of any kind


def test_nearest_ids_exact_and_hnsw_rank_alike(db_session, owner_library, monkeypatch):
    """Up to EXACT_MAX matching tracks the ranking is exact; past it HNSW's (iterative scan). Both give the
    same order on a small set, and a BPM filter never shortens the page."""
    from services.common.models import Track
    user, lib = owner_library
    model = embeddings.text_model()
    rows = []
    for i in range(40):
        t = track(db_session, lib, f"T{i}", bpm=120.0 + (i % 4))
        embed(db_session, t, text=vec((0, 1.0), (1, i / 10)), text_model=model)
        rows.append(t)
    where = [Track.library_id == lib.id, Track.bpm == 121.0]
    exact = vibe.nearest_ids(db_session, where=where, model=model, vector=vec((0, 1.0)), limit=5)
    assert exact == [rows[i].id for i in (1, 5, 9, 13, 17)]  # nearest first among the 121 BPM tracks
    assert vibe.nearest_ids(db_session, where=where, model=model, vector=vec((0, 1.0)), limit=5, offset=8) == \
        [rows[i].id for i in (33, 37)]
    monkeypatch.setattr(vibe, "EXACT_MAX", 3)  # ten tracks match: past the exact ranking's limit
    assert vibe.nearest_ids(db_session, where=where, model=model, vector=vec((0, 1.0)), limit=5) == exact
    assert vibe.nearest_ids(db_session, where=[*where, Track.title == "none"], model=model,
                            vector=vec((0, 1.0)), limit=5) == []
