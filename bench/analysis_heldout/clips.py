"""Render a spec with its generator, trim it to its duration and encode it (mp3/flac/ogg), cached."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.analysis_heldout.specs import HeldoutSpec

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "djp-heldout"
CODECS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "5"],
}


def generator_available(generator: str) -> bool:
    if generator == "numpy_synth":
        return True
    from bench.analysis_heldout.render_midi import SOUNDFONTS

    import shutil

    return shutil.which("fluidsynth") is not None and SOUNDFONTS[generator].exists()


def clip_path(spec: HeldoutSpec, cache_dir: Path = DEFAULT_CACHE) -> Path:
    return cache_dir / spec.generator / f"s{spec.seed}" / f"{spec.clip_id}.{spec.fmt}"


def render_clip(spec: HeldoutSpec, cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The encoded clip, rendered only when it is not in the cache yet."""
    out = clip_path(spec, cache_dir)
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    wav = out.with_name(out.stem + ".render.wav")
    if spec.generator == "numpy_synth":
        from bench.analysis_heldout.render_numpy import render
    else:
        from bench.analysis_heldout.render_midi import render
    render(spec, wav)
    tmp = out.with_name(out.stem + ".part." + spec.fmt)
    try:
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-t", f"{spec.seconds:.3f}",
             "-ar", "44100", *CODECS[spec.fmt], str(tmp)],
            check=True,
        )
        tmp.rename(out)  # atomic: a crashed render never leaves a half clip in the cache
    finally:
        wav.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out
