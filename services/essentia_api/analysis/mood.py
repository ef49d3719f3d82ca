"""Mood scores with pluggable backends.

Selection (select_mood_backend), first that is usable wins:
1. Essentia TensorFlow classifiers: `*.pb` graphs (+ Essentia's `.json` metadata) in MOOD_MODELS_DIR,
   used only when the installed Essentia build has the TensorFlow algorithms (essentia-tensorflow).
2. Essentia SVM (Gaia) models: `*.history` in MOOD_MODELS_DIR, used through MusicExtractorSVM.
3. The bundled MusiCNN tagger (analysis/musicnn.py, ONNX Runtime): mood scores from its Last.fm mood
   tags (MusicnnMood), mood_model "musicnn-msd". Off with MOOD_MODEL=descriptor.
4. Descriptor estimates from tempo, key mode, energy and spectrum; reported as mood_model
   "descriptor" so nobody mistakes them for a trained classifier's output.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from services.common.contracts.analysis import MOOD_NAMES
from services.essentia_api.analysis import musicnn

log = logging.getLogger(__name__)

DESCRIPTOR = "descriptor"


@dataclass
class MoodInputs:
    """What any backend may use: descriptors always, the file path for model backends."""

    path: str
    bpm: float
    scale: str
    energy_score: float
    danceability: float
    centroid_hz: float
    loudness_lufs: float
    onset_rate: float
    flux: float
    # Native-rate mono excerpts at the backend's excerpt_starts (backends that read audio themselves
    # ignore them), and their sample rate.
    excerpts: list[np.ndarray] = field(default_factory=list)
    excerpt_rate: float = 0.0


class MoodBackend(Protocol):
    name: str

    def predict(self, *, inputs: MoodInputs) -> dict[str, float]: ...


def _unit(x: float, lo: float, hi: float) -> float:
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


class DescriptorMood:
    """Hand-set formulas over descriptors. Plausible ordering, no claim of classifier accuracy."""

    name = DESCRIPTOR

    def predict(self, *, inputs: MoodInputs) -> dict[str, float]:
        major = 1.0 if inputs.scale == "major" else 0.0
        tempo = _unit(inputs.bpm, 70, 160)
        bright = _unit(inputs.centroid_hz, 500, 2500)
        e = inputs.energy_score
        loud = _unit(inputs.loudness_lufs, -22, -6)
        scores = {
            "happy": 0.35 * major + 0.25 * tempo + 0.2 * bright + 0.2 * inputs.danceability,
            "sad": 0.4 * (1 - major) + 0.3 * (1 - e) + 0.3 * (1 - tempo),
            "aggressive": 0.35 * e + 0.25 * loud + 0.2 * _unit(inputs.flux, 0.05, 0.35) + 0.2 * bright,
            "relaxed": 0.5 * (1 - e) + 0.25 * (1 - _unit(inputs.onset_rate, 1, 8)) + 0.25 * (1 - loud),
            "party": 0.45 * inputs.danceability + 0.35 * e + 0.2 * (1 - abs(inputs.bpm - 126) / 60),
        }
        return {k: round(float(np.clip(v, 0, 1)), 3) for k, v in scores.items()}


def _positive_index(meta_path: Path, mood: str) -> int:
    # Essentia model metadata lists classes like ["happy", "non_happy"]; pick the mood's column.
    try:
        classes = json.loads(meta_path.read_text())["classes"]
        return next(i for i, c in enumerate(classes) if c.lower().replace(" ", "_") == mood)
    except (OSError, ValueError, KeyError, StopIteration):
        return 0


class TensorflowMood:
    """Essentia's MusiCNN mood classifiers (mood_<name>-musicnn-*.pb), 16 kHz mono input."""

    def __init__(self, *, graphs: dict[str, Path], es_module) -> None:
        self.graphs = graphs
        self.es = es_module
        self.name = "tensorflow:" + ",".join(sorted(p.stem for p in graphs.values()))

    def predict(self, *, inputs: MoodInputs) -> dict[str, float]:
        audio = self.es.MonoLoader(filename=inputs.path, sampleRate=16000, resampleQuality=4)()
        out = DescriptorMood().predict(inputs=inputs)  # moods without a model keep the estimate
        for mood, graph in self.graphs.items():
            model = self.es.TensorflowPredictMusiCNN(graphFilename=str(graph), output="model/Sigmoid")
            act = np.asarray(model(audio))
            idx = _positive_index(graph.with_suffix(".json"), mood)
            out[mood] = round(float(np.mean(act[:, idx])), 3)
        return out


class SvmMood:
    """Essentia's Gaia SVM models through MusicExtractorSVM (needs the full low-level pool)."""

    def __init__(self, *, histories: dict[str, Path], es_module) -> None:
        self.histories = histories
        self.es = es_module
        self.name = "svm:" + ",".join(sorted(p.stem for p in histories.values()))

    def predict(self, *, inputs: MoodInputs) -> dict[str, float]:
        pool, _frames = self.es.MusicExtractor()(inputs.path)
        high = self.es.MusicExtractorSVM(svms=[str(p) for p in self.histories.values()])(pool)
        out = DescriptorMood().predict(inputs=inputs)
        for mood, hist in self.histories.items():
            key = f"highlevel.{hist.stem}.all.{mood}"
            if key in high.descriptorNames():
                out[mood] = round(float(high[key]), 3)
        return out


# Last.fm tags of the MusiCNN MSD model behind each mood; a mood takes its strongest tag. MSD has no
# "aggressive" tag: its heavy genres stand in.
MUSICNN_MOOD_TAGS = {
    "happy": ("happy",),
    "sad": ("sad",),
    "aggressive": ("metal", "heavy metal", "hard rock", "punk"),
    "relaxed": ("chillout", "chill", "Mellow", "easy listening"),
    "party": ("party",),
}
# Tag probabilities are small (a mood tag is applied to few songs), so the score is the probability's cube
# root: monotone, and 0.5 (what the set builder and vibe text count as "strong") means the model gives the
# tag a 1-in-8 chance. Not a calibrated classifier probability; docs/benchmarks.md shows the distribution.
MUSICNN_SCORE_EXPONENT = 1 / 3


def musicnn_moods(tags: dict[str, float]) -> dict[str, float]:
    """Mood scores (unrounded) from MusiCNN tag probabilities: each mood's strongest tag, cube-rooted."""
    return {
        mood: max(tags[t] for t in MUSICNN_MOOD_TAGS[mood]) ** MUSICNN_SCORE_EXPONENT for mood in MOOD_NAMES
    }


class MusicnnMood:
    """Mood scores from the bundled MusiCNN tagger (analysis/musicnn.py) on excerpts cut at load time."""

    name = musicnn.MODEL_NAME
    excerpt_seconds = musicnn.EXCERPT_SECONDS

    def __init__(self) -> None:
        self._tagger: musicnn.MusicnnTagger | None = None

    def excerpt_starts(self, duration: float) -> list[float]:
        return musicnn.excerpt_starts(duration, musicnn.patch_count(duration))

    def predict(self, *, inputs: MoodInputs) -> dict[str, float]:
        if not inputs.excerpts:
            raise ValueError("no audio excerpts were cut for the mood model")
        if self._tagger is None:  # once per worker process
            self._tagger = musicnn.MusicnnTagger()
        tags = self._tagger.tags(musicnn.excerpt_patches(inputs.excerpts, inputs.excerpt_rate))
        return {mood: round(score, 3) for mood, score in musicnn_moods(tags).items()}


def _musicnn_usable() -> str | None:
    """None if the bundled model can run here, else why not."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed"
    return None if musicnn.MODEL_PATH.is_file() else f"{musicnn.MODEL_PATH} is missing"


def _find_models(models_dir: Path, suffix: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(models_dir.glob(f"*{suffix}")):
        for mood in MOOD_NAMES:
            if p.stem.lower().startswith(f"mood_{mood}"):
                found.setdefault(mood, p)
    return found


def select_mood_backend(
    *, models_dir: Path | None, es_module, bundled: bool = True
) -> tuple[MoodBackend, str]:
    """Return (backend, reason). Never fails: falls back to descriptors and says why.
    `bundled=False` (MOOD_MODEL=descriptor) skips the bundled MusiCNN model."""
    essentia_backend, reason = _essentia_models(models_dir=models_dir, es_module=es_module)
    if essentia_backend is not None:
        return essentia_backend, reason
    if not bundled:
        return DescriptorMood(), reason + "; MOOD_MODEL=descriptor"
    unusable = _musicnn_usable()
    if unusable is None:
        return MusicnnMood(), reason + "; bundled MusiCNN (MSD) model"
    return DescriptorMood(), f"{reason}; {unusable}"


def _essentia_models(*, models_dir: Path | None, es_module) -> tuple[MoodBackend | None, str]:
    """(backend, reason) for usable Essentia models in MOOD_MODELS_DIR, else (None, why there are none)."""
    if models_dir is None:
        return None, "MOOD_MODELS_DIR not set"
    if not models_dir.is_dir():
        return None, f"{models_dir} is not a directory"
    graphs = _find_models(models_dir, ".pb")
    if graphs:
        if hasattr(es_module, "TensorflowPredictMusiCNN"):
            return TensorflowMood(graphs=graphs, es_module=es_module), f"{len(graphs)} TensorFlow models"
        reason = "TensorFlow models found but this Essentia build has no TensorFlow support"
    else:
        reason = "no mood_*.pb models"
    histories = _find_models(models_dir, ".history")
    if histories:
        if hasattr(es_module, "MusicExtractorSVM") and hasattr(es_module, "GaiaTransform"):
            return SvmMood(histories=histories, es_module=es_module), f"{len(histories)} SVM models"
        reason += "; SVM models found but this Essentia build has no Gaia support"
    return None, reason


def predict_moods(*, backend: MoodBackend, inputs: MoodInputs) -> tuple[dict[str, float], str]:
    """Scores and the name of what produced them; a failing model degrades to descriptors."""
    if backend.name == DESCRIPTOR:
        return backend.predict(inputs=inputs), DESCRIPTOR
    try:
        return backend.predict(inputs=inputs), backend.name
    except Exception as exc:  # noqa: BLE001 - a broken model file must not fail the whole analysis
        log.warning("mood model %s failed (%s); using descriptor estimates", backend.name, exc)
        return DescriptorMood().predict(inputs=inputs), DESCRIPTOR
