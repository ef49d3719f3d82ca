"""OpenAI-assisted metadata: suggestions the user reviews, and natural-language search parsing.

The official `openai` client, pointed at `OPENAI_BASE_URL` when set (any OpenAI-compatible server; tests use
a local fake), with `OPENAI_TIMEOUT_SECONDS` per request and `OPENAI_MAX_RETRIES` retries: the client itself
retries 408/409/429/5xx, timeouts and connection errors, waiting the server's `Retry-After` (or
`retry-after-ms`) when given, else exponential backoff. Without `OPENAI_API_KEY` every feature answers
`SourceNotConfigured` (409, code `source_not_configured`) with the reason, never a crash.

Answers are requested with Structured Outputs (`response_format` json_schema, strict) and validated again
with pydantic on return: content that is not JSON, does not match the schema, or fails the domain's own
rules is an `AssistMalformed` (503, code `assist_malformed`) and nothing is stored. Failures of the API are
`CatalogError`s naming OpenAI and the status, never the key: the key is scrubbed from every message and log
line this module writes, and the client's own logs never contain it. Bounded concurrency: at most
`ENRICHMENT_CONCURRENCY` OpenAI calls in flight per process (the same per-platform semaphore as the catalog
clients, `sources/http.platform_semaphore("openai", ...)`); a slot is held for the whole call, the client's own
retries included, so a rate-limited API is not asked harder by other requests meanwhile.

Suggestions (`metadata_suggestions`) are never applied silently. Accepting one (optionally edited; edited
values win) writes to the track as follows, adding and never removing what the track already has:
- genres and styles: added to the track's genres and styles (a later Discogs sync puts the release's list
  first and keeps these after it: collection/sync.py `_TRACK_MERGE`);
- moods: added to the track's **tags** (the user's own field, searchable, kept across syncs and analyses).
  `Track.moods` is not touched: it holds the audio analysis' mood scores (name -> 0..1), rewritten by every
  analysis, so words from a language model do not belong there;
- note: appended as a line to the track's notes (unless the notes already contain it).
Tags and notes go through the tracks domain's `update_track` (its validation and write permission).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.common.models import MetadataSuggestion, Track, User
from services.common.settings import Settings, get_settings
from services.domain.analysis.results import restyle_tempos
from services.domain.enrichment import prompts
from services.domain.enrichment.service import record_source_error, record_source_ok
from services.domain.enrichment.sources.base import (
    CatalogAuthError,
    CatalogError,
    CatalogMalformed,
    CatalogQuotaExceeded,
    SourceNotConfigured,
    SourceStatus,
)
from services.domain.enrichment.sources.http import platform_semaphore
from services.domain.errors import Conflict, Invalid, NotFound
from services.domain.search.models import SearchQuery
from services.domain.tracks.service import (
    NOTES_MAX,
    TAGS_MAX,
    require_tracks,
    tracks_by_ids,
    update_track,
    writable_track,
)

log = logging.getLogger(__name__)

NAME = "openai"
LABEL = "OpenAI"
MAX_TRACKS = 50  # per suggestion request (one API call)
MAX_GENRES, MAX_STYLES, MAX_MOODS, NOTE_MAX, NAME_MAX, MOOD_MAX = 5, 8, 6, 300, 100, 64
PARSE_TEXT_MAX = 500
STATUSES = ("pending", "accepted", "rejected")
REDACTED = "***"


class AssistMalformed(CatalogMalformed):
    """The model's answer was not the JSON the schema asks for (or broke the domain's rules)."""

    code = "assist_malformed"


# -- configuration -------------------------------------------------------------------------------------


def _key(settings: Settings) -> str:
    return settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""


def configured(settings: Settings | None = None) -> tuple[bool, str]:
    settings = settings or get_settings()
    if not _key(settings):
        return False, ("OpenAI is not configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for an "
                       "OpenAI-compatible server) to get metadata suggestions and natural-language search.")
    where = "the OpenAI API"
    if settings.openai_base_url:  # scheme, host and port only: a URL may carry credentials
        parts = urlsplit(settings.openai_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False, "OPENAI_BASE_URL must be an http(s) URL such as http://localhost:11434/v1."
        netloc = parts.netloc.rpartition("@")[2]
        where = f"the server at {parts.scheme}://{netloc}"
    return True, f"Metadata suggestions and search parsing with {settings.openai_model} on {where}."


def status(settings: Settings | None = None) -> SourceStatus:
    ok, reason = configured(settings)
    return SourceStatus(name=NAME, label=LABEL, url_field="", configured=ok, reason=reason)


# -- the client ----------------------------------------------------------------------------------------


def _platform_message(exc: openai.APIStatusError) -> str | None:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    return message.strip()[:200] if isinstance(message, str) and message.strip() else None


class Assistant:
    """A JSON-answering chat client; `complete_json` raises only CatalogError subclasses."""

    def __init__(self, *, api_key: str, model: str, base_url: str | None = None, timeout: float = 30.0,
                 max_retries: int = 3, concurrency: int = 4, http_client: Any = None) -> None:
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.semaphore = platform_semaphore(NAME, concurrency)  # shared by every Assistant in the process
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout,
                                    max_retries=max_retries, http_client=http_client)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Assistant:
        settings = settings or get_settings()
        ok, reason = configured(settings)
        if not ok:
            raise SourceNotConfigured(reason)
        return cls(api_key=_key(settings), model=settings.openai_model, base_url=settings.openai_base_url,
                   timeout=settings.openai_timeout_seconds, max_retries=settings.openai_max_retries,
                   concurrency=settings.enrichment_concurrency)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def redact(self, text: str) -> str:
        return text.replace(self.api_key, REDACTED) if self.api_key and len(self.api_key) >= 4 else text

    def _fail(self, kind: type[CatalogError], detail: str, *, status: int | None = None) -> CatalogError:
        detail = self.redact(detail)
        log.warning("%s", detail)
        return kind(detail, source=NAME, status=status)

    def complete_json(self, *, name: str, schema: dict[str, Any], system: str, user: str) -> dict[str, Any]:
        """The model's answer to (system, user) as a JSON object following `schema` (strict Structured Outputs)."""
        attempts = f"gave up after {self.max_retries + 1} attempt{'s' if self.max_retries else ''}"
        try:
            with self.semaphore:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": name, "strict": True, "schema": schema}},
                )
        except openai.APITimeoutError:
            raise self._fail(CatalogError, f"{LABEL} did not answer within {self.timeout:g} s ({attempts})") from None
        except openai.APIConnectionError:
            raise self._fail(CatalogError, f"{LABEL} could not be reached: connection error ({attempts})") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = _platform_message(exc)
            suffix = f": {message}" if message else ""
            if status in (401, 403):
                raise self._fail(CatalogAuthError, f"{LABEL} refused the API key (HTTP {status}); check "
                                 "OPENAI_API_KEY", status=status) from None
            if status == 429:
                raise self._fail(CatalogQuotaExceeded, f"{LABEL} is rate limiting us (HTTP 429, {attempts}){suffix}",
                                 status=status) from None
            if status >= 500:
                raise self._fail(CatalogError, f"{LABEL} answered HTTP {status} ({attempts})", status=status) from None
            raise self._fail(CatalogError, f"{LABEL} answered HTTP {status}{suffix}", status=status) from None
        except (openai.OpenAIError, ValueError) as exc:  # a body the client could not read (truncated JSON...)
            raise self._fail(AssistMalformed, f"{LABEL}'s answer could not be read ({type(exc).__name__})") from None
        return self._content(response)

    def _content(self, response: Any) -> dict[str, Any]:
        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        if message is None:
            raise self._fail(AssistMalformed, f"{LABEL}'s answer has no message")
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise self._fail(AssistMalformed, f"{LABEL} declined to answer: {str(refusal)[:200]}")
        if getattr(choices[0], "finish_reason", None) == "length":
            raise self._fail(AssistMalformed, f"{LABEL}'s answer was cut off (too long); try fewer tracks")
        content = getattr(message, "content", None)
        if not isinstance(content, str) or not content.strip():
            raise self._fail(AssistMalformed, f"{LABEL}'s answer was empty")
        try:
            data = json.loads(content)
        except ValueError:
            raise self._fail(AssistMalformed, f"{LABEL}'s answer was not JSON") from None
        if not isinstance(data, dict):
            raise self._fail(AssistMalformed, f"{LABEL}'s answer was not a JSON object")
        return data


def assistant(settings: Settings | None = None) -> Assistant:
    """The configured client, or SourceNotConfigured (409) saying what to set."""
    return Assistant.from_settings(settings)


def _malformed(detail: str) -> AssistMalformed:
    """An answer that broke the schema or the domain's rules, kept as OpenAI's last error."""
    log.warning("%s", detail)
    record_source_error(NAME, detail)
    return AssistMalformed(detail, source=NAME)


def _ask(client: Assistant | None, **request: Any) -> dict[str, Any]:
    """One `complete_json` with the configured client (or the one given), the outcome kept as OpenAI's last
    error / last success for the settings page."""
    own = client is None
    client = client or assistant()
    try:
        data = client.complete_json(**request)
    except CatalogError as exc:
        record_source_error(NAME, exc.detail)
        raise
    finally:
        if own:
            client.close()
    record_source_ok(NAME)
    return data


# -- metadata suggestions ------------------------------------------------------------------------------


def _clean_names(values: list[str], *, limit: int, length: int, lower: bool = False) -> list[str]:
    out = []
    for value in values:
        value = " ".join(value.split())
        if lower:
            value = value.lower()
        if not value:
            continue
        if len(value) > length:
            raise ValueError(f"{value[:20]!r}... is longer than {length} characters")
        if value.casefold() not in {v.casefold() for v in out}:
            out.append(value)
    if len(out) > limit:
        raise ValueError(f"at most {limit}")
    return out


class SuggestionFields(BaseModel):
    """What a suggestion holds, and what an accept may override (edited values win). Validated the same way
    whether the model or the user wrote them."""

    model_config = ConfigDict(extra="forbid")

    genres: list[str] = Field(default_factory=list, description=f"at most {MAX_GENRES}")
    styles: list[str] = Field(default_factory=list, description=f"at most {MAX_STYLES}")
    moods: list[str] = Field(default_factory=list, description=f"at most {MAX_MOODS} words, added as tags")
    note: str = Field("", description=f"one line, at most {NOTE_MAX} characters, appended to the notes")

    @field_validator("genres")
    @classmethod
    def _genres(cls, value: list[str]) -> list[str]:
        return _clean_names(value, limit=MAX_GENRES, length=NAME_MAX)

    @field_validator("styles")
    @classmethod
    def _styles(cls, value: list[str]) -> list[str]:
        return _clean_names(value, limit=MAX_STYLES, length=NAME_MAX)

    @field_validator("moods")
    @classmethod
    def _moods(cls, value: list[str]) -> list[str]:
        return _clean_names(value, limit=MAX_MOODS, length=MOOD_MAX, lower=True)

    @field_validator("note")
    @classmethod
    def _note(cls, value: str) -> str:
        value = " ".join(value.split())  # one line
        if len(value) > NOTE_MAX:
            raise ValueError(f"at most {NOTE_MAX} characters")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class _ModelSuggestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str
    genres: list[str]
    styles: list[str]
    moods: list[str]
    note: str

    def fields(self) -> SuggestionFields:
        # A model giving one genre too many is not malformed: keep the first ones (its best guesses).
        return SuggestionFields(genres=self.genres[:MAX_GENRES], styles=self.styles[:MAX_STYLES],
                                moods=self.moods[:MAX_MOODS], note=self.note[:NOTE_MAX])


class _ModelSuggestions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracks: list[_ModelSuggestion]


_STRINGS = {"type": "array", "items": {"type": "string"}}
SUGGEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tracks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"ref": {"type": "string"}, "genres": _STRINGS, "styles": _STRINGS, "moods": _STRINGS,
                               "note": {"type": "string"}},
                "required": ["ref", "genres", "styles", "moods", "note"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["tracks"],
    "additionalProperties": False,
}


def _track_facts(track: Track) -> dict[str, Any]:
    facts: dict[str, Any] = {"ref": str(track.id), "artist": track.artist, "title": track.title,
                             "album": track.album, "year": track.year, "genres": list(track.genres or []),
                             "styles": list(track.styles or [])}
    label = getattr(track.album_ref, "label", None) if track.album_id else None
    if label:
        facts["label"] = label
    if track.bpm:
        facts["bpm"] = round(track.bpm, 1)
    if track.camelot:
        facts["key"] = track.camelot
    if track.energy:
        facts["energy"] = round(track.energy, 1)
    if track.duration_seconds:
        facts["duration"] = f"{int(track.duration_seconds // 60)}:{int(track.duration_seconds % 60):02d}"
    return {k: v for k, v in facts.items() if v not in (None, [], "")}


def _check_track_pks(track_pks: list[int]) -> list[int]:
    pks = list(dict.fromkeys(track_pks))
    if not pks:
        raise Invalid("choose at least one track", code="no_tracks")
    if len(pks) > MAX_TRACKS:
        raise Invalid(f"at most {MAX_TRACKS} tracks per request ({len(pks)} given)", code="too_many_tracks")
    return pks


def suggest_metadata(*, session: Session, user: User, track_pks: list[int],
                     client: Assistant | None = None) -> list[MetadataSuggestion]:
    """Ask the model about up to 50 tracks the user may edit, in one request; store one pending suggestion
    per track (replacing that user's earlier pending one for it). Nothing is stored unless every track got a
    well-formed answer; the tracks themselves are never changed here."""
    pks = _check_track_pks(track_pks)
    if client is None:
        configured_ok, reason = configured()
        if not configured_ok:
            raise SourceNotConfigured(reason)
    tracks = require_tracks(session=session, user=user, track_pks=pks)
    for pk in pks:
        writable_track(session=session, user=user, track_pk=pk)
    ordered = [tracks[pk] for pk in pks]
    system = prompts.render(prompts.current(session=session, name="suggest_system"), max_genres=MAX_GENRES,
                            max_styles=MAX_STYLES, max_moods=MAX_MOODS, note_max=NOTE_MAX)
    user_text = prompts.render(prompts.current(session=session, name="suggest_user"), count=len(ordered),
                               tracks=json.dumps([_track_facts(t) for t in ordered], ensure_ascii=False, indent=1))
    data = _ask(client, name="track_metadata", schema=SUGGEST_SCHEMA, system=system, user=user_text)
    try:
        answer = _ModelSuggestions.model_validate(data)
        by_ref = {}
        for item in answer.tracks:
            by_ref.setdefault(item.ref, item.fields())
    except ValidationError as exc:
        raise _malformed(f"{LABEL}'s suggestions did not match the schema: {_first_error(exc)}") from None
    missing = [pk for pk in pks if str(pk) not in by_ref]
    if missing:
        raise _malformed(f"{LABEL}'s answer left out {len(missing)} of the {len(pks)} tracks "
                         f"(first: track {missing[0]})")
    session.execute(delete(MetadataSuggestion).where(
        MetadataSuggestion.user_id == user.id, MetadataSuggestion.status == "pending",
        MetadataSuggestion.track_pk.in_(pks)))
    stored = [MetadataSuggestion(track_pk=pk, user_id=user.id, fields=by_ref[str(pk)].model_dump(),
                                 status="pending") for pk in pks]
    session.add_all(stored)
    session.flush()
    return stored


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "answer"
    return f"{where}: {err.get('msg', 'invalid')}"


def list_suggestions(*, session: Session, user: User, status: str | None = "pending",
                     limit: int = 200) -> list[tuple[MetadataSuggestion, Track]]:
    """The user's own suggestions (newest first) with their tracks, live ones the user can still see."""
    if status is not None and status not in STATUSES:
        raise Invalid(f"status: one of {', '.join(STATUSES)}", code="bad_status")
    stmt = (select(MetadataSuggestion).where(MetadataSuggestion.user_id == user.id)
            .order_by(MetadataSuggestion.created_at.desc(), MetadataSuggestion.id.desc()).limit(max(1, min(limit, 500))))
    if status is not None:
        stmt = stmt.where(MetadataSuggestion.status == status)
    rows = list(session.scalars(stmt))
    tracks = {t.id: t for t in tracks_by_ids(session=session, user=user, ids=[s.track_pk for s in rows])}
    return [(s, tracks[s.track_pk]) for s in rows if s.track_pk in tracks]


def get_suggestion(*, session: Session, user: User, suggestion_id: int) -> MetadataSuggestion:
    """One of the user's own suggestions (anyone else's is "not found")."""
    suggestion = session.get(MetadataSuggestion, suggestion_id)
    if suggestion is None or suggestion.user_id != user.id:
        raise NotFound("suggestion not found")
    return suggestion


def _pending(session: Session, user: User, suggestion_id: int) -> MetadataSuggestion:
    suggestion = get_suggestion(session=session, user=user, suggestion_id=suggestion_id)
    if suggestion.status != "pending":
        raise Conflict(f"this suggestion was already {suggestion.status}", code="suggestion_decided")
    return suggestion


def _merge(existing: list[str] | None, added: list[str]) -> list[str]:
    out = list(existing or [])
    seen = {v.casefold() for v in out}
    for value in added:
        if value.casefold() not in seen:
            out.append(value)
            seen.add(value.casefold())
    return out


def accept_suggestion(*, session: Session, user: User, suggestion_id: int,
                      overrides: dict[str, Any] | None = None) -> tuple[MetadataSuggestion, Track]:
    """Apply a pending suggestion to its track, the user's edits (`overrides`, any of genres, styles, moods,
    note) winning over the model's values; see the module docstring for where each field goes."""
    suggestion = _pending(session, user, suggestion_id)
    try:
        fields = SuggestionFields.model_validate({**(suggestion.fields or {}), **(overrides or {})})
    except ValidationError as exc:
        raise Invalid(f"suggestion: {_first_error(exc)}", code="bad_suggestion") from None
    track = writable_track(session=session, user=user, track_pk=suggestion.track_pk)
    changes: dict[str, Any] = {}
    tags = _merge(track.tags, fields.moods)
    if tags != list(track.tags or []):
        if len(tags) > TAGS_MAX:
            raise Invalid(f"the track would have more than {TAGS_MAX} tags; remove some moods or tags first",
                          code="bad_tags")
        changes["tags"] = tags
    if fields.note and fields.note not in (track.notes or ""):
        notes = f"{track.notes.rstrip()}\n{fields.note}" if track.notes and track.notes.strip() else fields.note
        if len(notes) > NOTES_MAX:
            raise Invalid(f"the notes would be longer than {NOTES_MAX} characters", code="bad_value")
        changes["notes"] = notes
    if changes:
        update_track(session=session, user=user, track_pk=track.id, changes=changes)
    track.genres = _merge(track.genres, fields.genres)
    track.styles = _merge(track.styles, fields.styles)
    suggestion.fields = fields.model_dump()
    suggestion.status = "accepted"
    suggestion.decided_at = datetime.now(UTC)
    session.flush()
    if restyle_tempos(conn=session, track_pks=[track.id]):  # a new style can set the tempo's octave
        session.expire(track, ["bpm", "bpm_source"])
        from services.domain.embeddings.jobs import embed_soon

        embed_soon(track_pks=[track.id])
    return suggestion, track


def reject_suggestion(*, session: Session, user: User, suggestion_id: int) -> MetadataSuggestion:
    """Drop a pending suggestion; the track is left as it is."""
    suggestion = _pending(session, user, suggestion_id)
    suggestion.status = "rejected"
    suggestion.decided_at = datetime.now(UTC)
    session.flush()
    return suggestion


# -- natural-language search parsing -------------------------------------------------------------------


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


PARSE_FIELDS: dict[str, dict[str, Any]] = {
    "q": {"type": "string"},
    "bpm_min": _nullable("number"),
    "bpm_max": _nullable("number"),
    "half_double": {"type": "boolean"},
    "key": _nullable("string"),
    "compatible_with": _nullable("string"),
    "energy_min": _nullable("number"),
    "energy_max": _nullable("number"),
    "genre": _STRINGS,
    "style": _STRINGS,
    "year_min": _nullable("integer"),
    "year_max": _nullable("integer"),
}
PARSE_SCHEMA: dict[str, Any] = {"type": "object", "properties": PARSE_FIELDS, "required": list(PARSE_FIELDS),
                                "additionalProperties": False}


def parse_search(text: str, *, session: Session, client: Assistant | None = None) -> SearchQuery:
    """A sentence ("dark minimal techno around 128 that mixes with 8A, from the 90s") as a SearchQuery:
    the model fills the JSON schema's fields, `SearchQuery` validates them (keys parsed, ranges ordered).
    An answer SearchQuery refuses is an AssistMalformed naming the field."""
    text = " ".join((text or "").split())
    if not text:
        raise Invalid("text: say what you are looking for", code="empty_text")
    if len(text) > PARSE_TEXT_MAX:
        raise Invalid(f"text: at most {PARSE_TEXT_MAX} characters", code="text_too_long")
    if "\x00" in text:
        raise Invalid("text: must not contain NUL characters", code="bad_value")
    if client is None:
        ok, reason = configured()
        if not ok:
            raise SourceNotConfigured(reason)
    system = prompts.render(prompts.current(session=session, name="parse_system"),
                            current_year=datetime.now(UTC).year)
    user_text = prompts.render(prompts.current(session=session, name="parse_user"), text=text)
    data = _ask(client, name="track_search", schema=PARSE_SCHEMA, system=system, user=user_text)
    unknown = sorted(set(data) - set(PARSE_FIELDS))
    if unknown:
        raise _malformed(f"{LABEL}'s search query has unknown fields: {', '.join(unknown)}")
    values = {k: v for k, v in data.items() if v is not None and v != [] and v is not False}
    values.setdefault("q", "")
    try:
        return SearchQuery.model_validate(values)
    except ValidationError as exc:
        raise _malformed(f"{LABEL}'s search query was not valid: {_first_error(exc)}") from None


__all__ = ["AssistMalformed", "Assistant", "SuggestionFields", "accept_suggestion", "assistant", "configured",
           "get_suggestion", "list_suggestions", "parse_search", "reject_suggestion", "status", "suggest_metadata"]
