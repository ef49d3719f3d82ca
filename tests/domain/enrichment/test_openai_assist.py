"""OpenAI-assisted metadata and search parsing, with the official `openai` client pointed at a local fake."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from sqlalchemy import func, select

from services.common.models import MetadataSuggestion, Track, User
from services.common.settings import get_settings
from services.domain.enrichment import openai_assist as assist
from services.domain.enrichment import prompts
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogQuotaExceeded,
    SourceNotConfigured,
)
from services.domain.errors import Conflict, Forbidden, Invalid, NotFound
from tests.fakes.openai_server import COMPLETIONS, DEFAULT_KEY




@pytest.fixture
def tracks(db_session, owner_library) -> list[Track]:
    _user, library = owner_library
    rows = [Track(track_id=f"100-A{n}", library_id=library.id, release_id=100, title=title, artist=artist,
                  album="Warehouse Tapes", year=1996, genres=["Electronic"], styles=styles, tags=["vinyl"],
                  notes=notes, bpm=bpm)
            for n, (title, artist, styles, notes, bpm) in enumerate([
                ("Strings of Life", "Rhythim Is Rhythim", ["Detroit Techno"], None, 122.6),
                ("Can You Feel It", "Mr. Fingers", [], "Play early.", 120.0),
                ("Acid Tracks", "Phuture", ["Acid House"], None, None)], start=1)]
    db_session.add_all(rows)
    db_session.flush()
    return rows


def _count(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(MetadataSuggestion))


# -- suggestions -------------------------------------------------------------------------------------------


def test_suggestions_are_stored_for_review_and_never_applied(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    fake_openai.reply({"tracks": [{"ref": str(tracks[0].id), "genres": ["Electronic", "House"],
                                   "styles": ["Detroit Techno", "Deep House"], "moods": ["Euphoric", "warm"],
                                   "note": "Peak-time\nanthem; strings carry the break."}]})
    (suggestion,) = assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])

    assert suggestion.status == "pending" and suggestion.track_pk == tracks[0].id and suggestion.user_id == user.id
    assert suggestion.fields == {"genres": ["Electronic", "House"], "styles": ["Detroit Techno", "Deep House"],
                                 "moods": ["euphoric", "warm"], "note": "Peak-time anthem; strings carry the break."}
    db_session.expire_all()
    track = db_session.get(Track, tracks[0].id)
    assert (track.genres, track.styles, track.tags, track.notes) == (["Electronic"], ["Detroit Techno"], ["vinyl"],
                                                                     None)
    # What the API saw: the Bearer key, the configured model, strict Structured Outputs, the track's facts.
    (seen,) = fake_openai.completions_seen()
    assert seen.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    body = fake_openai.bodies[0]
    assert body["model"] == "gpt-test-mini"
    assert body["response_format"]["type"] == "json_schema" and body["response_format"]["json_schema"]["strict"]
    assert "Strings of Life" in body["messages"][1]["content"] and "Rhythim Is Rhythim" in body["messages"][1]["content"]
    assert "at most 5 broad genres" in body["messages"][0]["content"]


def test_a_selection_is_one_request_and_replaces_earlier_pending_suggestions(db_session, owner_library, tracks,
                                                                             fake_openai):
    user, _ = owner_library
    pks = [t.id for t in tracks]
    first = assist.suggest_metadata(session=db_session, user=user, track_pks=pks)
    assert len(first) == 3 and len(fake_openai.completions_seen()) == 1
    facts = json.loads(fake_openai.bodies[0]["messages"][1]["content"].split("\n", 1)[1])
    assert [f["ref"] for f in facts] == [str(pk) for pk in pks] and facts[0]["bpm"] == 122.6
    again = assist.suggest_metadata(session=db_session, user=user, track_pks=pks[:1])
    assert _count(db_session) == 3 and again[0].id not in {s.id for s in first}

    with pytest.raises(Invalid, match="at most 50 tracks"):
        assist.suggest_metadata(session=db_session, user=user, track_pks=list(range(1, 52)))
    with pytest.raises(Invalid, match="at least one"):
        assist.suggest_metadata(session=db_session, user=user, track_pks=[])
    stranger = User(username="stranger", password_hash="x")
    db_session.add(stranger)
    db_session.flush()
    with pytest.raises(NotFound):
        assist.suggest_metadata(session=db_session, user=stranger, track_pks=pks[:1])
    assert len(fake_openai.completions_seen()) == 2  # refused selections never reach the API


def test_accept_applies_the_suggestion_and_edited_values_win(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    track = tracks[1]  # notes "Play early.", no styles
    fake_openai.reply({"tracks": [{"ref": str(track.id), "genres": ["Electronic", "House"], "styles": ["Chicago House"],
                                   "moods": ["hypnotic"], "note": "Deep, patient groove."}]})
    (suggestion,) = assist.suggest_metadata(session=db_session, user=user, track_pks=[track.id])

    accepted, _track = assist.accept_suggestion(session=db_session, user=user, suggestion_id=suggestion.id,
                                                 overrides={"styles": ["Deep House", "Chicago House"],
                                                            "note": "My own words."})
    assert accepted.status == "accepted" and accepted.decided_at is not None
    assert accepted.fields["styles"] == ["Deep House", "Chicago House"] and accepted.fields["note"] == "My own words."
    db_session.expire_all()
    track = db_session.get(Track, track.id)
    assert track.genres == ["Electronic", "House"]  # added to what the track had
    assert track.styles == ["Deep House", "Chicago House"]  # the user's edit, not the model's
    assert track.tags == ["vinyl", "hypnotic"]  # moods become tags; Track.moods (analysis scores) untouched
    assert track.moods is None
    assert track.notes == "Play early.\nMy own words."
    with pytest.raises(Conflict, match="already accepted"):
        assist.accept_suggestion(session=db_session, user=user, suggestion_id=suggestion.id)
    with pytest.raises(Conflict):
        assist.reject_suggestion(session=db_session, user=user, suggestion_id=suggestion.id)


def test_an_accepted_style_sets_the_tempo_octave(db_session, owner_library, tracks, fake_openai, monkeypatch):
    from services.domain.analysis.results import store_analysis
    from tests.domain.analysis.test_results import _result

    monkeypatch.setattr("services.domain.embeddings.jobs.embed_soon", lambda **_: False)
    user, _ = owner_library
    track = tracks[1]  # no styles
    store_analysis(session=db_session, track=track, result=_result(bpm=86.0, bpm_candidates=[
        {"bpm": 86.0, "confidence": 0.7, "relation": "chosen"}, {"bpm": 172.0, "confidence": 0.3, "relation": "double"}]))
    assert track.bpm == 86.0
    fake_openai.reply({"tracks": [{"ref": str(track.id), "genres": ["Electronic"], "styles": ["Drum n Bass"],
                                   "moods": [], "note": ""}]})
    (suggestion,) = assist.suggest_metadata(session=db_session, user=user, track_pks=[track.id])
    _, track = assist.accept_suggestion(session=db_session, user=user, suggestion_id=suggestion.id)
    assert (track.bpm, track.bpm_source) == (172.0, "style")


def test_accept_refuses_bad_edits_and_reject_leaves_the_track(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    suggestions = assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id, tracks[2].id])
    with pytest.raises(Invalid, match="genres.*at most 5"):
        assist.accept_suggestion(session=db_session, user=user, suggestion_id=suggestions[0].id,
                                 overrides={"genres": [f"G{n}" for n in range(6)]})
    with pytest.raises(Invalid, match="extra|not permitted"):
        assist.accept_suggestion(session=db_session, user=user, suggestion_id=suggestions[0].id,
                                 overrides={"bpm": 128})
    rejected = assist.reject_suggestion(session=db_session, user=user, suggestion_id=suggestions[1].id)
    assert rejected.status == "rejected" and rejected.decided_at is not None
    db_session.expire_all()
    for t in (tracks[0], tracks[2]):
        track = db_session.get(Track, t.id)
        assert track.tags == ["vinyl"] and track.genres == ["Electronic"] and track.notes is None
    pending = assist.list_suggestions(session=db_session, user=user)
    assert [s.id for s, _t in pending] == [suggestions[0].id]
    assert {s.status for s, _ in assist.list_suggestions(session=db_session, user=user, status=None)} == {
        "pending", "rejected"}
    other = User(username="other", password_hash="x")
    db_session.add(other)
    db_session.flush()
    with pytest.raises(NotFound):
        assist.reject_suggestion(session=db_session, user=other, suggestion_id=suggestions[0].id)
    assert assist.list_suggestions(session=db_session, user=other) == []


# -- retries, failures, secrets ----------------------------------------------------------------------------


def test_429_with_retry_after_and_5xx_are_retried_by_the_client(db_session, owner_library, tracks, fake_openai,
                                                              caplog):
    user, _ = owner_library
    fake_openai.fault(COMPLETIONS, "429:0.05", "502")
    with caplog.at_level(logging.INFO, logger="openai"):
        (suggestion,) = assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert suggestion.status == "pending"
    assert len(fake_openai.completions_seen()) == 3  # 429, 502, then the answer
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Retrying request in")]
    assert len(waits) == 2 and waits[0].startswith("Retrying request in 0.05")  # the server's Retry-After


def test_calls_in_flight_are_bounded_per_process(fake_openai, monkeypatch):
    """Six threads, each with its own client: never more than ENRICHMENT_CONCURRENCY (2) requests at the fake."""
    monkeypatch.setenv("ENRICHMENT_CONCURRENCY", "2")
    get_settings.cache_clear()
    fake_openai.slow_seconds = 0.1  # overlapping calls, if nothing held them back
    fake_openai.reply(*[{"ok": True}] * 6)
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    answers: list[dict] = []

    def call() -> None:
        with assist.Assistant.from_settings() as client:
            answers.append(client.complete_json(name="echo", schema=schema, system="s", user="u"))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [{"ok": True}] * 6 and len(fake_openai.completions_seen()) == 6
    assert 1 <= fake_openai.max_in_flight <= 2


def test_a_timeout_is_retried(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    fake_openai.fault(COMPLETIONS, "hang:1.5")  # the client gives up after 0.5 s and asks again
    (suggestion,) = assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert suggestion.status == "pending" and len(fake_openai.completions_seen()) == 2


def test_persistent_failures_are_clear_errors_and_store_nothing(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    fake_openai.fault(COMPLETIONS, "503", "500", "503")
    with pytest.raises(CatalogError, match=r"OpenAI answered HTTP 503 \(gave up after 3 attempts\)") as failed:
        assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert failed.value.status == 503 and failed.value.source == "openai"
    fake_openai.fault(COMPLETIONS, "429:", "429:", "429:")
    with pytest.raises(CatalogQuotaExceeded, match="rate limiting"):
        assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert len(fake_openai.completions_seen()) == 6 and _count(db_session) == 0


@pytest.mark.parametrize("fault, message", [
    ("content:notjson", "answer was not JSON"),
    ("content:schema", "did not match the schema"),
    ("refusal", "declined to answer"),
    ("length", "cut off"),
    ("malformed", "could not be read"),
])
def test_malformed_answers_are_errors_and_nothing_is_stored(db_session, owner_library, tracks, fake_openai, fault,
                                                            message):
    user, _ = owner_library
    fake_openai.fault(COMPLETIONS, fault)
    with pytest.raises(assist.AssistMalformed, match=message) as failed:
        assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert failed.value.code == "assist_malformed"
    assert _count(db_session) == 0


def test_an_answer_leaving_out_a_track_stores_nothing(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    fake_openai.reply({"tracks": [{"ref": str(tracks[0].id), "genres": [], "styles": [], "moods": [], "note": ""}]})
    with pytest.raises(assist.AssistMalformed, match="left out 1 of the 2 tracks"):
        assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id, tracks[1].id])
    assert _count(db_session) == 0


def test_without_a_key_every_feature_is_not_configured(db_session, owner_library, tracks, no_openai):
    user, _ = owner_library
    ok, reason = assist.configured()
    assert not ok and "OPENAI_API_KEY" in reason
    with pytest.raises(SourceNotConfigured, match="OPENAI_API_KEY") as refused:
        assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert refused.value.code == "source_not_configured"
    with pytest.raises(SourceNotConfigured):
        assist.parse_search("deep house at 122", session=db_session)


def test_the_key_never_reaches_logs_or_error_messages(db_session, owner_library, tracks, fake_openai, monkeypatch,
                                                      caplog):
    user, _ = owner_library
    caplog.set_level(logging.DEBUG)  # every logger, the client's and httpx's included
    fake_openai.fault(COMPLETIONS, "429:0.01", "hang:1")
    assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])

    wrong = "sk-proj-WRONGkey0123456789abcdefghij"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    get_settings.cache_clear()
    with pytest.raises(CatalogAuthError) as refused:  # the fake's 401 body echoes the key it was sent
        assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert "refused the API key (HTTP 401)" in refused.value.detail and wrong not in refused.value.detail
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "Retrying request" in logged  # the client's debug logging was on
    assert DEFAULT_KEY not in logged and wrong not in logged and "WRONGkey" not in logged


# -- natural-language search ---------------------------------------------------------------------------------


def _search_answer(**values) -> dict:
    out = {name: ([] if spec.get("type") == "array" else False if spec.get("type") == "boolean" else None)
           for name, spec in assist.PARSE_FIELDS.items()}
    out["q"] = ""
    out.update(values)
    return out


def test_parse_search_returns_a_valid_search_query(db_session, fake_openai):
    fake_openai.reply(_search_answer(bpm_min=122, bpm_max=126, compatible_with="A minor", energy_min=6,
                                     style=["Deep House", "Deep House"], year_min=1990, year_max=1999, q="warehouse"))
    query = assist.parse_search("  deep house around 124 that mixes with A minor,\n from the 90s, warehouse vibe ",
                                session=db_session)
    assert (query.bpm_min, query.bpm_max, query.compatible_with, query.energy_min) == (122, 126, "8A", 6)
    assert query.style == ["Deep House"] and (query.year_min, query.year_max) == (1990, 1999)
    assert query.q == "warehouse" and query.key is None and query.genre == []
    body = fake_openai.bodies[0]
    assert body["messages"][1]["content"] == "deep house around 124 that mixes with A minor, from the 90s, warehouse vibe"
    assert body["response_format"]["json_schema"]["name"] == "track_search"
    assert set(body["response_format"]["json_schema"]["schema"]["required"]) == set(assist.PARSE_FIELDS)


@pytest.mark.parametrize("answer, message", [
    (_search_answer(bpm_min=130, bpm_max=120), "bpm_min must be <= bpm_max"),
    (_search_answer(key="H sharp major"), "key"),
    (_search_answer(energy_max=40), "energy_max"),
    ({"q": "x", "mood": "dark"}, "unknown fields: mood"),
])
def test_parse_search_refuses_an_invalid_model_answer(db_session, fake_openai, answer, message):
    fake_openai.reply(answer)
    with pytest.raises(assist.AssistMalformed, match=message):
        assist.parse_search("anything", session=db_session)


def test_parse_search_checks_the_text_first(db_session, fake_openai):
    with pytest.raises(Invalid, match="say what"):
        assist.parse_search("   ", session=db_session)
    with pytest.raises(Invalid, match="at most 500"):
        assist.parse_search("x" * 501, session=db_session)
    assert fake_openai.completions_seen() == []


# -- prompt templates ----------------------------------------------------------------------------------------


def test_every_default_template_is_valid():
    for name, spec in prompts.TEMPLATES.items():
        assert prompts.validate_template(name, spec.default) == spec.default


@pytest.mark.parametrize("text, message", [
    ("Tag these: {tracks} in {language}", "unknown placeholder {language}"),
    ("Tag these: {tracks.__class__}", "placeholder {tracks.__class__} is not allowed"),
    ("Tag these: {tracks[0]}", "is not allowed"),
    ("Tag these: {0} {tracks}", "placeholder {0} is not allowed"),
    ("Tag these: {tracks!r}", "no format spec or conversion"),
    ("Tag these: {tracks", "expected '}'"),
    ("Tag these: } {tracks}", "Single '}'"),
    ("Tag these tracks please", "must contain {tracks}"),
    ("", "cannot be empty"),
])
def test_template_validation_names_the_problem(text, message):
    with pytest.raises(Invalid, match=message.replace("{", r"\{").replace("[", r"\[").replace("(", r"\(")):
        prompts.validate_template("suggest_user", text)


def test_an_admin_override_is_used_and_reset_brings_back_the_default(db_session, owner_library, tracks, fake_openai):
    user, _ = owner_library
    admin = User(username="boss", password_hash="x", is_admin=True)
    db_session.add(admin)
    db_session.flush()
    with pytest.raises(Forbidden):
        prompts.save_template(session=db_session, user=user, name="suggest_user", text="{tracks}")
    with pytest.raises(NotFound):
        prompts.save_template(session=db_session, user=admin, name="nope", text="{tracks}")
    prompts.save_template(session=db_session, user=admin, name="suggest_user",
                          text="Please tag {count} record(s), {{carefully}}:\n{tracks}")
    assert {p["name"]: p["overridden"] for p in prompts.listing(session=db_session)}["suggest_user"] is True
    assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert fake_openai.bodies[-1]["messages"][1]["content"].startswith("Please tag 1 record(s), {carefully}:\n[")

    assert prompts.reset_template(session=db_session, user=admin, name="suggest_user") == prompts.SUGGEST_USER
    assert prompts.current(session=db_session, name="suggest_user") == prompts.SUGGEST_USER
    assist.suggest_metadata(session=db_session, user=user, track_pks=[tracks[0].id])
    assert fake_openai.bodies[-1]["messages"][1]["content"].startswith("Suggest metadata for these 1 track(s)")


def test_the_base_url_is_checked_and_shown_without_credentials(monkeypatch, no_openai):
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxyuser:proxypass@llm.example:8443/v1")
    get_settings.cache_clear()
    ok, reason = assist.configured()
    assert ok and "https://llm.example:8443" in reason and "proxypass" not in reason
    monkeypatch.setenv("OPENAI_BASE_URL", "llm.example/v1")
    get_settings.cache_clear()
    ok, reason = assist.configured()
    assert not ok and "OPENAI_BASE_URL must be an http(s) URL" in reason
