"""Fetchers by name: both tools register here (the worker's environment); an unknown or uninstalled one
is a permanent FetchError that says why, not a KeyError or an import failure (the web image has neither)."""

from __future__ import annotations

import pytest

from services.domain.downloads.fetchers import base


def test_both_download_tools_register():
    assert {"gamdl", "yt-dlp"} <= set(base.names())
    assert base.UNAVAILABLE == {}


def test_a_missing_fetcher_says_why(monkeypatch):
    monkeypatch.setitem(base.UNAVAILABLE, "gamdl", "structlog is not installed here")
    with pytest.raises(base.FetchError) as caught:
        base.fetcher("nope")
    assert caught.value.permanent
    assert "no 'nope' downloader" in str(caught.value) and "structlog is not installed here" in str(caught.value)
