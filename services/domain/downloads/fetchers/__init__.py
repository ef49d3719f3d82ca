"""Fetchers register themselves on import (see base.register).

A fetcher whose tool is not installed is left unregistered, with the reason kept in `base.UNAVAILABLE`:
the web image has neither gamdl nor yt-dlp (only the worker downloads) but imports this package to queue
downloads. `base.fetcher(name)` then says why instead of failing at import."""

import importlib

from services.domain.downloads.fetchers.base import UNAVAILABLE

for _module in ("gamdl", "ytdlp"):
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except ImportError as exc:  # the tool (or one of its dependencies) is not installed in this image
        UNAVAILABLE[_module] = f"{exc.name or exc} is not installed here"
