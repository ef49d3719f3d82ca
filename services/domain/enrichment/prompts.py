"""Prompt templates of the OpenAI-assisted features: defaults in code, each overridable by an admin.

A template is `str.format` text. Each names the placeholders it may use (`Template.placeholders`) and
those it must use (`required`: the data the model needs, such as `{tracks}`); literal braces are doubled
(`{{` `}}`). Saving an override checks it (`validate_template`): an unknown placeholder, attribute or index
access (`{tracks.x}`, `{tracks[0]}`), a conversion or format spec, or an unbalanced brace is refused with a
422 naming it, so a stored template always renders. Overrides live in `app_settings` under
"prompt.<name>"; `reset_template` deletes the override and the default applies again.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from services.common.models import AppSetting, User
from services.domain.errors import Forbidden, Invalid, NotFound

KEY_PREFIX = "prompt."
TEMPLATE_MAX = 8000


@dataclass(frozen=True)
class Template:
    name: str
    label: str
    help: str
    default: str
    placeholders: tuple[str, ...]
    required: tuple[str, ...] = ()


SUGGEST_SYSTEM = """You are an expert DJ and music librarian tagging a DJ's record collection.
For every track you are given, suggest:
- genres: at most {max_genres} broad genres in Discogs' vocabulary (e.g. Electronic, Hip Hop, Jazz, Funk / Soul);
- styles: at most {max_styles} specific styles in Discogs' vocabulary (e.g. Deep House, Techno, Drum n Bass);
- moods: at most {max_moods} single lowercase words for the feel on a dance floor (e.g. dark, euphoric, warm);
- note: one line (at most {note_max} characters) a DJ would find useful: where it fits in a set, what it mixes with.
Keep the genres and styles the track already has when they are right. Do not invent facts you are not sure of:
leave a list empty rather than guess. Answer for every track, with its "ref" exactly as given."""

SUGGEST_USER = """Suggest metadata for these {count} track(s), given as JSON:
{tracks}"""

PARSE_SYSTEM = """You turn a DJ's description of the tracks they want into search filters.
Fill only what the text asks for and leave every other field null (lists empty, booleans false):
- q: words to match in title, artist or album that are not a filter below (else "");
- bpm_min / bpm_max: tempo range in BPM ("around 124" means 122 to 126); half_double: true only when asked;
- key: an exact key (Camelot like 8A, or a musical key like "A minor"); compatible_with: a key the tracks
  should mix with;
- energy_min / energy_max: energy from 1 (ambient) to 10 (peak time);
- genre / style: names in Discogs' vocabulary (genres such as Electronic; styles such as Deep House, Techno);
- year_min / year_max: release years (this year is {current_year}; "the 90s" is 1990 to 1999)."""

PARSE_USER = """{text}"""

TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("suggest_system", "Metadata suggestions: instructions",
             "What the model is asked to suggest for each track.", SUGGEST_SYSTEM,
             ("max_genres", "max_styles", "max_moods", "note_max")),
    Template("suggest_user", "Metadata suggestions: the tracks",
             "The message carrying the tracks (a JSON list of artist, title, album, year, current genres...).",
             SUGGEST_USER, ("count", "tracks"), ("tracks",)),
    Template("parse_system", "Search parsing: instructions",
             "How a sentence becomes search filters (BPM, key, energy, genre, style, year, free text).",
             PARSE_SYSTEM, ("current_year",)),
    Template("parse_user", "Search parsing: the request", "The message carrying what the user typed.",
             PARSE_USER, ("text",), ("text",)),
)}


def template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise NotFound(f"prompt template {name!r} not found; known: {', '.join(TEMPLATES)}") from None


def validate_template(name: str, text: str) -> str:
    """The text if it is a usable template for `name`, else Invalid naming what is wrong."""
    spec = template(name)
    if not isinstance(text, str) or not text.strip():
        raise Invalid(f"{spec.label}: the template cannot be empty", code="bad_template")
    if len(text) > TEMPLATE_MAX:
        raise Invalid(f"{spec.label}: at most {TEMPLATE_MAX} characters", code="bad_template")
    if "\x00" in text:
        raise Invalid(f"{spec.label}: must not contain NUL characters", code="bad_template")
    allowed = ", ".join("{" + p + "}" for p in spec.placeholders) or "none"
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:  # "Single '}' encountered", "unmatched '{'"
        raise Invalid(f"{spec.label}: {exc} (write {{{{ and }}}} for literal braces)", code="bad_template") from None
    used = set()
    for _literal, field, fmt, conversion in parts:
        if field is None:
            continue
        if field not in spec.placeholders:
            if field == "" or not field.isidentifier():
                raise Invalid(f"{spec.label}: placeholder {{{field}}} is not allowed: use one of {allowed} "
                              "(write {{ and }} for literal braces)", code="unknown_placeholder")
            raise Invalid(f"{spec.label}: unknown placeholder {{{field}}}; allowed: {allowed}",
                          code="unknown_placeholder")
        if fmt or conversion:
            raise Invalid(f"{spec.label}: placeholder {{{field}}} takes no format spec or conversion",
                          code="unknown_placeholder")
        used.add(field)
    missing = [p for p in spec.required if p not in used]
    if missing:
        raise Invalid(f"{spec.label}: the template must contain {', '.join('{' + p + '}' for p in missing)}",
                      code="missing_placeholder")
    return text


def render(template_text: str, /, **values: object) -> str:
    """Fill a (validated) template; only plain `{name}` fields exist, so this cannot reach attributes."""
    return template_text.format(**values)


def _key(name: str) -> str:
    return KEY_PREFIX + name


def overrides(*, session: Session) -> dict[str, str]:
    rows = session.execute(select(AppSetting.key, AppSetting.value).where(AppSetting.key.startswith(KEY_PREFIX)))
    out = {}
    for key, value in rows:
        name = key.removeprefix(KEY_PREFIX)
        if name in TEMPLATES and isinstance(value, str):
            out[name] = value
    return out


def current(*, session: Session, name: str) -> str:
    """The template in use: the admin's override, else the default."""
    spec = template(name)
    value = session.scalar(select(AppSetting.value).where(AppSetting.key == _key(name)))
    return value if isinstance(value, str) else spec.default


def listing(*, session: Session) -> list[dict]:
    """Every template with its text in use, whether it is overridden, and its placeholders."""
    found = overrides(session=session)
    return [{"name": t.name, "label": t.label, "help": t.help, "text": found.get(t.name, t.default),
             "default": t.default, "overridden": t.name in found, "placeholders": list(t.placeholders),
             "required": list(t.required)} for t in TEMPLATES.values()]


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("only an admin can change the prompt templates", code="admin_only")


def save_template(*, session: Session, user: User, name: str, text: str) -> str:
    """Store an admin's override (validated first); saving the default text removes the override."""
    _require_admin(user)
    text = validate_template(name, text)
    if text == template(name).default:
        reset_template(session=session, user=user, name=name)
        return text
    stmt = insert(AppSetting).values(key=_key(name), value=text, updated_by=user.id)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[AppSetting.key],
        set_={"value": stmt.excluded.value, "updated_by": user.id, "updated_at": datetime.now(UTC)}))
    session.flush()
    return text


def reset_template(*, session: Session, user: User, name: str) -> str:
    """Back to the default (the override is deleted)."""
    _require_admin(user)
    spec = template(name)
    session.execute(delete(AppSetting).where(AppSetting.key == _key(name)))
    session.flush()
    return spec.default
