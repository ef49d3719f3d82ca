"""Folding and highlighting shared by both backends."""

from __future__ import annotations

from services.domain.search.text import fold, highlight, terms


def test_fold_and_terms():
    assert fold("Sigur Rós — Hoppípolla") == "sigur ros — hoppipolla"
    assert terms("  Daft  PUNK daft ") == ["daft", "punk"]
    assert terms("Кино 坂本龍一") == ["кино", "坂本龍一"]


def test_highlight_marks_prefixes_and_typos_and_escapes_the_rest():
    assert highlight("Around the World", terms("aroun wrld")) == "<mark>Around</mark> the <mark>World</mark>"
    assert highlight("<b>Bold</b> & Bass", terms("bold")) == "&lt;b&gt;<mark>Bold</mark>&lt;/b&gt; &amp; Bass"
    assert highlight("Windowlicker", terms("daft")) is None
