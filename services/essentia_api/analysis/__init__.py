"""Audio analysis with Essentia, in-process. `pipeline.analyze_file` is the entry point."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def ess():
    """essentia.standard with its INFO/WARNING chatter off (it logs per call otherwise)."""
    import essentia

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    import essentia.standard as es

    return es


def essentia_version() -> str:
    import essentia

    return str(essentia.__version__)
