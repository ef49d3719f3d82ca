"""Text folding and highlighting, the same for every backend (Postgres folds with djp_fold())."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from html import escape

_WORD = re.compile(r"\w+", re.UNICODE)
TYPO_RATIO = 0.75  # a word this close to a query term counts as a (typo) match


def fold(text: str | None) -> str:
    """Lower case without accents: 'Sigur Rós' -> 'sigur ros' (what djp_fold does in Postgres)."""
    if not text or text.isascii():  # ASCII has nothing to decompose (highlighting folds every word)
        return (text or "").lower()
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def terms(query: str) -> list[str]:
    """The folded words of a query, in order, without repeats."""
    return list(dict.fromkeys(_WORD.findall(fold(query))))


def _matches(word: str, query_terms: list[str]) -> bool:
    w = fold(word)
    for t in query_terms:
        if w.startswith(t):
            return True
        # A typo keeps the first letter and the length within two, as the backends' corrections do;
        # the cheap checks first, so most words never reach the (slow) ratio.
        if (len(t) >= 3 and w[:1] == t[:1] and abs(len(w) - len(t)) <= 2
                and SequenceMatcher(None, w, t).ratio() >= TYPO_RATIO):
            return True
    return False


def highlight(text: str | None, query_terms: list[str]) -> str | None:
    """`text` HTML-escaped with every matching word wrapped in <mark>…</mark>; None when nothing matches."""
    if not text or not query_terms:
        return None
    out, last, hit = [], 0, False
    for m in _WORD.finditer(text):
        if _matches(m.group(), query_terms):
            out.append(escape(text[last:m.start()]))
            out.append(f"<mark>{escape(m.group())}</mark>")
            last, hit = m.end(), True
    if not hit:
        return None
    out.append(escape(text[last:]))
    return "".join(out)
