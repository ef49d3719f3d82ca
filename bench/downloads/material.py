"""The audio the download benchmark serves: two deterministic clip sets made differently.

* tuning: seed family 1234, 60-120 s, 44.1 kHz stereo, MP3 (LAME 192 kb/s), progressions open on
  the tonic, no phrase marks;
* test (frozen): seed family 2027, 45-150 s, 48 kHz stereo, Ogg Vorbis (q 5), progressions started at
  a random bar, crash cymbals on phrase starts.

Clip i of a set depends only on (set, i): `--quick` uses the first files of the same sets. Files are
cached in $TMPDIR/djp-bench-downloads/<split>/ (a ~100 MB set takes about two minutes to make).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from services.domain.downloads.media import ffmpeg_binary
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip, write_wav

CACHE = Path(tempfile.gettempdir()) / "djp-bench-downloads"


@dataclass(frozen=True)
class SplitRecipe:
    name: str
    seed: int
    seconds: tuple[float, float]
    sample_rate: int
    ext: str
    codec: tuple[str, ...]
    rotate: bool
    phrase_crash: bool


SPLITS = {
    "tuning": SplitRecipe("tuning", 1234, (60.0, 120.0), 44100, ".mp3", ("-c:a", "libmp3lame", "-b:a", "192k"),
                          rotate=False, phrase_crash=False),
    "test": SplitRecipe("test", 2027, (45.0, 150.0), 48000, ".ogg", ("-c:a", "libvorbis", "-q:a", "5"),
                        rotate=True, phrase_crash=True),
}
MAX_CLIPS = 50


def specs(recipe: SplitRecipe, count: int = MAX_CLIPS) -> list[ClipSpec]:
    """The first `count` clips of a set (the draws for clip i do not depend on `count`)."""
    rng = np.random.default_rng(recipe.seed)
    out = []
    for i in range(MAX_CLIPS):
        bpm = round(float(rng.uniform(80, 175)), 1)
        tonic = int(rng.integers(0, 12))
        scale = "minor" if rng.random() < 0.6 else "major"
        seconds = round(float(rng.uniform(*recipe.seconds)), 1)
        progression = int(rng.integers(0, 4))
        rotation = int(rng.integers(0, 4))
        out.append(ClipSpec(bpm=bpm, tonic=tonic, scale=scale, seconds=seconds, progression=progression,
                            seed=recipe.seed * 1000 + i, rotation=rotation if recipe.rotate else 0,
                            phrase_crash=recipe.phrase_crash))
    return out[:count]


def clip_set(split: str, count: int) -> list[tuple[Path, ClipSpec]]:
    """(file, spec) for the first `count` clips of a split, made when missing."""
    recipe = SPLITS[split]
    folder = CACHE / split
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i, spec in enumerate(specs(recipe, count)):
        path = folder / f"{split}_{i:02d}{recipe.ext}"
        stamp = path.with_suffix(path.suffix + ".json")
        wanted = json.dumps({"spec": asdict(spec), "sr": recipe.sample_rate, "codec": recipe.codec}, sort_keys=True)
        if not (path.exists() and stamp.exists() and stamp.read_text() == wanted):
            wav = write_wav(folder / f".{split}_{i:02d}.wav",
                            synth_clip(spec, sr=recipe.sample_rate, stereo=True), sr=recipe.sample_rate)
            subprocess.run([ffmpeg_binary(), "-nostdin", "-v", "error", "-y", "-i", str(wav), *recipe.codec,
                            str(path)], check=True)
            wav.unlink()
            stamp.write_text(wanted)
        made.append((path, spec))
    return made
