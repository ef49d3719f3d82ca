"""Track matching you can trust: normalize artist and title, score a platform's candidate, decide.

Pure functions, no I/O. A library track (`TrackQuery`, mostly Discogs data) is compared with what a
platform returned (`Candidate`):

- **Normalization** (`normalize_artist`, `normalize_title`): Unicode NFKC + casefold, diacritics folded
  (é->e, ё->е; Japanese voiced marks kept), punctuation dropped ("AC/DC" = "ACDC", "Ms. Jackson" =
  "Ms Jackson"), Discogs suffixes removed ("Moodymann (2)", "Jeff Mills*", "Beatles, The"), "The "
  dropped, "feat./ft./featuring/with/&/x/vs./presents/," split into an artist set. Non-Latin scripts stay
  as they are (Cyrillic and Japanese compare as NFKC-casefolded text); a transliteration (Unidecode) is
  only an extra signal, used when the two sides are written in different scripts.
- **Version tags**: "(Original Mix)", "- Remastered 2011", "(From "8 Mile" Soundtrack)", "(Official
  Video)" are removed as noise or soft tags; "remix / edit / radio / extended / live / dub / instrumental
  / acapella / acoustic / demo / named mix / named version" are recorded, because a remix is not the
  original: a version disagreement is a strong penalty even when everything else is equal.
- **Score** (`score`): title and artist similarity (rapidfuzz ratios) through steep curves (a title that
  is only "similar" is another song), times a version factor, times a duration factor (within +/-3 s is
  full credit, beyond 10 s a growing penalty); equal ISRCs are decisive. Text written in different scripts
  that transliteration cannot bridge (kanji vs romaji) is *incomparable*, never a match on its own: such
  candidates are capped below the threshold and go to review.
- **Decision** (`decide`): `accept` at or above `DEFAULT_THRESHOLD`, `review` at or above `REVIEW_FLOOR`,
  else `reject`. The threshold was tuned on bench/matching/tuning.csv only (bench/bench_matching.py;
  precision and recall on the frozen test table are in docs/benchmarks.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from services.domain.enrichment.models import Candidate, TrackQuery

try:  # rapidfuzz is a declared dependency; difflib keeps the module importable without it
    from rapidfuzz.fuzz import ratio as _rf_ratio

    def _ratio(a: str, b: str) -> float:
        return _rf_ratio(a, b) / 100.0
except ImportError:  # pragma: no cover - exercised only without rapidfuzz
    from difflib import SequenceMatcher

    def _ratio(a: str, b: str) -> float:
        return SequenceMatcher(None, a, b).ratio()

try:  # token-order-free similarity for transliterations ("Utada Hikaru" = "Hikaru Utada")
    from rapidfuzz.fuzz import token_sort_ratio as _rf_token_sort

    def _token_sort(a: str, b: str) -> float:
        return _rf_token_sort(a, b) / 100.0
except ImportError:  # pragma: no cover
    def _token_sort(a: str, b: str) -> float:
        return _ratio(" ".join(sorted(a.split())), " ".join(sorted(b.split())))

try:
    from unidecode import unidecode as _unidecode
except ImportError:  # pragma: no cover
    def _unidecode(s: str) -> str:
        return s

_kakasi = None


def _romaji(text: str) -> str | None:
    """Hepburn romaji of Japanese text (kanji readings included) when pykakasi is installed."""
    global _kakasi
    try:
        if _kakasi is None:
            import pykakasi

            _kakasi = pykakasi.kakasi()
        return " ".join(item["hepburn"] for item in _kakasi.convert(text))
    except Exception:  # noqa: BLE001 - an optional extra signal: without it, unidecode
        return None

__all__ = [
    "DEFAULT_THRESHOLD",
    "REVIEW_FLOOR",
    "Candidate",
    "Decision",
    "MatchScore",
    "NormalizedArtist",
    "NormalizedTitle",
    "TrackQuery",
    "decide",
    "normalize_artist",
    "normalize_title",
    "score",
]

#: A candidate scoring at least this is accepted without asking: the middle of the highest-recall plateau
#: on bench/matching/tuning.csv whose precision holds 0.05 lower (bench_matching.best_threshold).
DEFAULT_THRESHOLD = 0.86
#: Below the threshold but at least this: the review queue. Lower: rejected (not shown).
REVIEW_FLOOR = 0.5
#: Incomparable scripts (kanji vs romaji) without an ISRC never score above this: always review.
INCOMPARABLE_CAP = 0.7

Decision = Literal["accept", "review", "reject"]

# Version tags that change the recording ("hard"); "original" and "remaster" do not.
HARD_TAGS = frozenset({"remix", "edit", "radio", "extended", "live", "dub", "instrumental", "acapella",
                       "acoustic", "demo", "mix", "version"})
SOFT_TAGS = frozenset({"original", "remaster"})


# --- text folding -----------------------------------------------------------------------------------

_KEEP_MARKS = {"\u3099", "\u309a"}  # Japanese (han)dakuten: ガ must stay distinct from カ
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i",
                          "’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"', "–": "-", "—": "-",
                          "〜": " ", "～": " ", "・": " "})
_JOINERS = re.compile(r"['.]")  # removed without a space: "Lil' Louis", "D.M.C.", "Ms."
_NON_WORD = re.compile(r"[^\w]+|_")


def _fold(text: str) -> str:
    """NFKC, casefold, diacritics off (except Japanese voiced marks), a few letters mapped."""
    text = unicodedata.normalize("NFKC", text or "").casefold().translate(_LETTERS)
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if ch in _KEEP_MARKS or not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", kept)


def _words(text: str) -> str:
    """Folded text reduced to words of any script separated by single spaces."""
    text = _JOINERS.sub("", _fold(text))
    return " ".join(_NON_WORD.sub(" ", text).split())


_PHONETIC = (("shch", "sh"), ("sch", "sh"), ("kh", "h"), ("tz", "c"), ("ts", "c"), ("z", "c"), ("ck", "k"),
             ("ph", "f"), ("w", "v"), ("y", "i"), ("j", "i"), ("x", "ks"))
_REPEATS = re.compile(r"(\w)\1+")


@lru_cache(maxsize=4096)
def _translit(words: str) -> str:
    """A Latin phonetic key of any script, for comparing across scripts only ("Кино" ~ "Kino", "Нина
    Кравиц" ~ "Nina Kraviz", "宇多田ヒカル" ~ "Utada Hikaru"): transliteration (pykakasi for Japanese,
    else Unidecode), then spelling variants of transliteration merged (ts/tz/z, y/j/i, kh/h, doubled letters)."""
    latin = (_romaji(words) if _script(words) == "cjk" else None) or _unidecode(words)
    key = " ".join(_NON_WORD.sub(" ", _JOINERS.sub("", latin.lower())).split())
    for a, b in _PHONETIC:
        key = key.replace(a, b)
    return _REPEATS.sub(r"\1", key)


def _script(text: str) -> str:
    """The script that decides how text is compared: "cjk" when any Chinese/Japanese letter is present
    (mixed "真夜中のドア〜Stay With Me" needs transliteration to meet its romaji), else "cyrillic" when any
    Cyrillic letter is, else "latin" / "other" by majority ("" without letters)."""
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        cp = ord(ch)
        if cp < 0x250:
            kind = "latin"
        elif 0x400 <= cp < 0x530:
            kind = "cyrillic"
        elif 0x3040 <= cp < 0x3100 or 0x3400 <= cp < 0xA000 or 0xF900 <= cp < 0xFB00 or 0xFF66 <= cp < 0xFFA0:
            kind = "cjk"
        else:
            kind = "other"
        counts[kind] = counts.get(kind, 0) + 1
    for kind in ("cjk", "cyrillic"):
        if kind in counts:
            return kind
    return max(counts, key=counts.get) if counts else ""


# --- artists ----------------------------------------------------------------------------------------

_DISCOGS_SUFFIX = re.compile(r"\s*\(\d+\)\s*$")
_QUOTED = re.compile(r"\s*[\"“][^\"”]*[\"”]\s*")  # Missy "Misdemeanor" Elliott
_YT_CHANNEL = re.compile(r"\s*(?:-\s*topic|vevo|official)\s*$", re.IGNORECASE)
_ARTIST_SPLIT = re.compile(
    r"\s+(?:feat\.?|ft\.?|featuring|with|vs\.?|versus|x|presents|pres\.|meets)\s+|\s*[&,+/]\s*|\s+and\s+",
    re.IGNORECASE,
)
_THE_SUFFIX = re.compile(r",\s*the\s*$", re.IGNORECASE)


def _clean_discogs_name(name: str) -> str:
    name = _DISCOGS_SUFFIX.sub("", name.strip()).rstrip("*").strip()
    return _DISCOGS_SUFFIX.sub("", name)


def _drop_the(words: str) -> str:
    return words[4:] if words.startswith("the ") and len(words) > 4 else words


@dataclass(frozen=True, slots=True)
class NormalizedArtist:
    """`text`: the whole credit folded ("the" dropped); `names`: each credited artist, primary first;
    `compact`: `text` without spaces; `translit`: a Latin transliteration (extra signal only)."""

    text: str
    names: tuple[str, ...]
    compact: str
    translit: str
    script: str


def normalize_artist(s: str | None) -> NormalizedArtist:
    raw = unicodedata.normalize("NFKC", s or "").translate(_LETTERS).strip()
    raw = _YT_CHANNEL.sub("", raw)
    raw = _QUOTED.sub(" ", raw)
    if _THE_SUFFIX.search(raw):  # Discogs sort form "Beatles, The"
        raw = "The " + _THE_SUFFIX.sub("", raw)
    parts = [_clean_discogs_name(p) for p in _ARTIST_SPLIT.split(raw)]
    names: list[str] = []
    for part in parts:
        w = _drop_the(_words(part))
        if w and w != "the" and w not in names:
            names.append(w)
    whole = _drop_the(_words(" ".join(_clean_discogs_name(p) for p in re.split(r"(\s*[&,]\s*)", raw))))
    return NormalizedArtist(text=whole, names=tuple(names), compact=whole.replace(" ", ""),
                            translit=_translit(whole), script=_script(whole))


# --- titles -----------------------------------------------------------------------------------------

_FEAT_GROUP = re.compile(r"[(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s+([^)\]]*)[)\]]", re.IGNORECASE)
_FEAT_TAIL = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s+(.+)$", re.IGNORECASE)
_GROUP = re.compile(r"[(\[]([^()\[\]]*)[)\]]")
_DASH = re.compile(r"\s+[-–—]\s+")

_NOISE = re.compile(
    r"^(?:official(?: music| lyric)? (?:video|audio|visualizer)|official|video|audio|lyrics?(?: video)?|"
    r"visuali[sz]er|hd|hq|4k|explicit|clean|bonus track|mono|stereo|"
    r"from .*|.*soundtrack.*|.*motion picture.*|deluxe.*|.*anniversary.*)$"
)
_TAG_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("acapella", re.compile(r"a ?cap+el+a|apella")),
    ("instrumental", re.compile(r"\binstrumental\b|\binst\b")),
    ("live", re.compile(r"\blive\b|\bunplugged\b|\bin concert\b")),
    ("acoustic", re.compile(r"\bacoustic\b")),
    ("demo", re.compile(r"\bdemo\b")),
    ("remix", re.compile(r"\bre ?mix\b|\bremixed\b|\brmx\b|\bre ?work\b|\bbootleg\b|\bvip\b|\brefix\b|\bre ?rub\b"
                         r"|\bflip\b|\bmash ?up\b|\bremode\b")),
    ("dub", re.compile(r"\bdub\b")),
    ("radio", re.compile(r"\bradio\b|\bsingle (?:version|edit|mix)\b|\b7 ?(?:inch|in)\b")),
    ("extended", re.compile(r"\bextended\b|\b12 ?(?:inch|in)\b|\blong (?:version|mix)\b|\bclub version\b")),
    ("edit", re.compile(r"\bre ?edit\b|\bedit\b|\bshort (?:version|mix|edit)\b|\bshort\b")),
    ("original", re.compile(r"^(?:the )?original(?: mix| version)?$|^album (?:version|mix)$|^main mix$")),
    ("remaster", re.compile(r"\bremaster(?:ed|ing)?\b|\bdigitally remastered\b")),
    ("mix", re.compile(r"\bmix\b")),
    ("version", re.compile(r"\bversion\b")),
)
_TAG_WORDS = re.compile(
    r"\b(?:re ?mix|remixed|rmx|re ?work|bootleg|refix|re ?rub|mash ?up|remode|mix|edit|re ?edit|version|radio|"
    r"extended|original|remaster(?:ed|ing)?|live|dub|instrumental|single|short|long|club|\d{4})\b"
)


@dataclass(frozen=True, slots=True)
class NormalizedTitle:
    """`base`: the title without any bracketed or dashed part; `full`: with its subtitles (parts that are
    not versions, e.g. "(Who Loves Me)"); `tags`: version tags found; `versions`: the descriptor of each
    hard version part without its tag words (e.g. "skrillex" for "Skrillex Remix"); `featured`: artists
    credited in the title ("(feat. X)")."""

    base: str
    full: str
    tags: frozenset[str]
    versions: tuple[str, ...]
    featured: tuple[str, ...]
    translit: str
    script: str

    @property
    def hard_tags(self) -> frozenset[str]:
        return self.tags & HARD_TAGS


def _classify(part: str) -> tuple[str | None, str]:
    """(tag or None for a subtitle or "noise", descriptor) of one bracketed or dashed part."""
    words = _words(part)
    if not words or _NOISE.match(words):
        return "noise", ""
    for tag, pattern in _TAG_RULES:
        if pattern.search(words):
            descriptor = " ".join(_TAG_WORDS.sub(" ", words).split())
            return tag, descriptor
    return None, words


def normalize_title(s: str | None, *, artist: str | None = None) -> NormalizedTitle:
    """`artist`: when given and the title starts with it ("Artist - Title (Official Video)", as YouTube
    titles do), that prefix is dropped."""
    text = unicodedata.normalize("NFKC", s or "").translate(_LETTERS).strip()
    featured: list[str] = []
    for m in _FEAT_GROUP.finditer(text):
        featured.extend(normalize_artist(m.group(1)).names)
    text = _FEAT_GROUP.sub(" ", text)
    segments = _DASH.split(text)
    if artist and len(segments) > 1 and _similar(_words(segments[0]), _words(artist)) >= 0.9:
        segments = segments[1:]
    head, tails = segments[0], segments[1:]
    m = _FEAT_TAIL.search(head)
    if m:
        featured.extend(normalize_artist(m.group(1)).names)
        head = head[:m.start()]
    parts = [g for g in _GROUP.findall(head)] + [g for t in tails for g in [_GROUP.sub(" ", t), *_GROUP.findall(t)]]
    base_raw = _GROUP.sub(" ", head)
    tags: set[str] = set()
    versions: list[str] = []
    subtitles: list[str] = []
    for part in parts:
        tag, descriptor = _classify(part)
        if tag is None:
            subtitles.append(descriptor)
        elif tag != "noise":
            tags.add(tag)
            if tag in HARD_TAGS:
                versions.append(descriptor)
    # "&" / "+" in a title read "and": "Halcyon + On + On" = "Halcyon On And On"
    base = _words(re.sub(r"\s*[&+]\s*", " and ", base_raw))
    if not base and subtitles:  # "(Untitled)" alone is the title
        base, subtitles = subtitles[0], subtitles[1:]
    full = " ".join([base, *[_words(re.sub(r"\s*[&+]\s*", " and ", x)) for x in subtitles]]).strip()
    return NormalizedTitle(base=base, full=full, tags=frozenset(tags), versions=tuple(versions),
                           featured=tuple(dict.fromkeys(featured)), translit=_translit(full), script=_script(full))


# --- similarity -------------------------------------------------------------------------------------

def _similar(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return max(_ratio(a, b), _ratio(a.replace(" ", ""), b.replace(" ", "")))


def _cross_script(a_text: str, a_script: str, a_tr: str, b_text: str, b_script: str, b_tr: str) -> float | None:
    """Similarity across scripts through transliteration; None when it cannot be judged (CJK involved and
    the transliterations do not agree: kanji read as Chinese pinyin say nothing about romaji)."""
    t = max(_similar(a_tr, b_tr), _token_sort(a_tr, b_tr)) if a_tr and b_tr else 0.0
    if t >= 0.8:
        return t
    if "cjk" in (a_script, b_script) or "other" in (a_script, b_script):
        return None
    return t


def _text_similarity(a: str, a_script: str, a_tr: str, b: str, b_script: str, b_tr: str) -> float | None:
    if a_script and b_script and a_script != b_script:
        return _cross_script(a, a_script, a_tr, b, b_script, b_tr)
    return _similar(a, b)


def _artist_similarity(q: NormalizedArtist, c: NormalizedArtist, q_feat: tuple[str, ...],
                       c_feat: tuple[str, ...]) -> float | None:
    """Best of: the whole credits, and the primary artist of either side found among the other's artists
    (featured artists from the titles included). None when the scripts cannot be compared."""
    q_names = list(dict.fromkeys([*q.names, *q_feat])) or [q.text]
    c_names = list(dict.fromkeys([*c.names, *c_feat])) or [c.text]

    def sim(a: str, b: str) -> float | None:
        return _text_similarity(a, _script(a), _translit(a), b, _script(b), _translit(b))

    scores = [sim(q.text, c.text)]
    if q_names and c_names:
        scores.append(_best(sim, q_names[0], c_names))
        scores.append(_best(sim, c_names[0], q_names))
    known = [s for s in scores if s is not None]
    return max(known) if known else None


def _best(sim, name: str, others: list[str]) -> float | None:
    values = [v for v in (sim(name, o) for o in others) if v is not None]
    return max(values) if values else None


def _title_similarity(q: NormalizedTitle, c: NormalizedTitle) -> float | None:
    full = _text_similarity(q.full, q.script, q.translit, c.full, c.script, c.translit)
    base_q, base_c = q.base, c.base
    base = _text_similarity(base_q, _script(base_q), _translit(base_q), base_c, _script(base_c),
                            _translit(base_c)) if base_q and base_c and (base_q != q.full or base_c != c.full) else None
    known = [s for s in (full, None if base is None else 0.97 * base) if s is not None]
    return max(known) if known else None


def _curve(similarity: float, *, full_at: float, slope: float) -> float:
    """1 at or above `full_at`, then falling `slope` per unit of similarity (steep: similar is not same)."""
    return 1.0 if similarity >= full_at else max(0.0, 1.0 - slope * (full_at - similarity))


def _version_agreement(q: NormalizedTitle, c: NormalizedTitle) -> tuple[str, float]:
    if q.hard_tags != c.hard_tags:
        return "mismatch", 0.45
    if not q.hard_tags:
        return "agree", 1.0
    qd = " ".join(v for v in q.versions if v)
    cd = " ".join(v for v in c.versions if v)
    if qd and cd:
        return ("agree", 1.0) if _similar(qd, cd) >= 0.8 else ("different-version", 0.45)
    if qd or cd:  # "Remix" vs "Skrillex Remix": perhaps the same
        return "partial", 0.85
    return "agree", 1.0


def _duration_factor(delta: float | None) -> float:
    if delta is None:
        return 0.93  # Discogs often has no duration: text alone, slightly less sure
    if delta <= 3:
        return 1.0
    if delta <= 10:
        return 1.0 - 0.02 * (delta - 3)  # 0.86 at 10 s
    return max(0.2, 0.78 - 0.012 * (delta - 10))  # 0.66 at 20 s, 0.42 at 40 s


def _isrc(value: str | None) -> str:
    return re.sub(r"[^A-Z0-9]", "", (value or "").upper())


# --- score and decision -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MatchScore:
    """`value` in 0..1 and the evidence behind it (JSON-serializable)."""

    value: float
    evidence: dict[str, Any] = field(default_factory=dict)


def score(query: TrackQuery, candidate: Candidate) -> MatchScore:
    qa, ca = normalize_artist(query.artist), normalize_artist(candidate.artist)
    qt = normalize_title(query.title)
    ct = normalize_title(candidate.title, artist=candidate.artist)
    artist = _artist_similarity(qa, ca, qt.featured, ct.featured)
    title = _title_similarity(qt, ct)
    version, version_factor = _version_agreement(qt, ct)
    delta = (abs(float(query.duration_seconds) - float(candidate.duration_seconds))
             if query.duration_seconds and candidate.duration_seconds else None)
    q_isrc, c_isrc = _isrc(query.isrc), _isrc(candidate.isrc)
    isrc_equal = (q_isrc == c_isrc) if (q_isrc and c_isrc) else None
    album = None
    if query.album and candidate.album:
        album = _similar(normalize_title(query.album).base, normalize_title(candidate.album).base)

    title_part = _curve(title, full_at=0.97, slope=3.0) if title is not None else None
    artist_part = _curve(artist, full_at=0.93, slope=2.5) if artist is not None else None
    incomparable = title_part is None or artist_part is None
    text = (title_part if title_part is not None else 1.0) * (artist_part if artist_part is not None else 1.0)
    value = text * version_factor * _duration_factor(delta)
    if album is not None and album >= 0.9:
        value = min(1.0, value + 0.03)
    if incomparable:
        value = min(value, INCOMPARABLE_CAP)
    if isrc_equal:
        value = 1.0  # the same recording code: decisive
    elif isrc_equal is False:
        value *= 0.9  # re-releases get new ISRCs: weak evidence against
    evidence = {
        "artist_similarity": None if artist is None else round(artist, 3),
        "title_similarity": None if title is None else round(title, 3),
        "version": version,
        "query_tags": sorted(qt.tags),
        "candidate_tags": sorted(ct.tags),
        "duration_delta_seconds": None if delta is None else round(delta, 1),
        "isrc_equal": isrc_equal,
        "album_similarity": None if album is None else round(album, 3),
        "incomparable_scripts": incomparable,
    }
    return MatchScore(value=round(max(0.0, min(1.0, value)), 4), evidence=evidence)


def decide(match: MatchScore | float, threshold: float = DEFAULT_THRESHOLD, *,
           review_floor: float = REVIEW_FLOOR) -> Decision:
    value = match.value if isinstance(match, MatchScore) else float(match)
    if value >= threshold:
        return "accept"
    if value >= min(review_floor, threshold):
        return "review"
    return "reject"
