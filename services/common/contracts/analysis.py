"""Contract of the audio analysis service (services/essentia_api): `POST /analyze` returns AnalysisResult.

The web app stores it on the track (columns + the full JSON) and the download worker requests it
after a download. Values are computed by Essentia in-process; see services/essentia_api/analysis.
Bump ANALYZER_VERSION when the numbers an unchanged file produces can change, so stored results
can be re-analysed selectively.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# 1.1: relative-key tie-break no longer weighs the opening bar.
# 1.2: beat grid moved onto the beat when the tracker locked to the off-beat; phrase starts found
#      and used to tell a minor key from its relative major.
# 1.3: danceability weighted by the audible pulse (a tone, noise or silence reads ~0, was 1.00);
#      energy counts tempo and flux only as far as the track is danceable; new onset rate.
# 1.4: bpm_candidates (tempo octave alternatives with confidences), key_confidence and key_alternative.
# 1.5: tempo octave decided by where kick and snare fall (halftime dubstep 140, not 70; swung
#      hip-hop no longer doubled); a wandering tracker's median beat; bpm_candidates weigh the same.
# 1.6: key from Essentia's KeyExtractor (edma) instead of a profile vote overruled by bass/triad tonic
#      rules; a major reading with a loud flat seventh moves to its subdominant; relative switch only on phrase starts.
# 1.7: tempo octave thresholds re-chosen on tuning material from all three held-out generators.
# 1.8: key decided by the chords of each bar (functions in each key); KeyExtractor only without a beat grid;
#      key_strength is that chord score.
# 1.9: key_confidence re-fitted on the held-out tuning split with the chord scores as evidence (key and
#      tempo unchanged).
# 1.10: halftime octave thresholds re-chosen with three more tuning seeds (LO_HALFTIME 0.78, KS_HALFTIME 0.565).
# 1.11: a bar reads as a dominant seventh only when that template beats the triads by 5 % (tonic chords were
#      read as V7 of the subdominant: keys a fifth off); KeyExtractor's readings keep 1.8's confidence weights.
# 1.12: chord weights re-chosen on 528 tuning clips: out-of-key chords -0.5 (was -0.3), the major's V triad
#      0.4, the minor's iv 0.6; a key and its relative tied on the chords are decided by the bass, not by name.
# 1.13: where a key and its relative nearly tie on the chords, the note the melody ends its 8-bar phrases on
#      (three times the other tonic's) picks the key.
# 1.14: EBU R128 loudness measured by the analyzer's own meter at the analysis rate (Essentia's resampled to
#      48 kHz first): the same readings within a few hundredths of a LU, a fifth of the time; WAV, AIFF, FLAC,
#      MP3 and Ogg decoded by libsndfile; decimation by libsoxr (HQ) instead of scipy's polyphase FIR.
# 1.15: mood scores from the bundled MusiCNN tagger (Million Song Dataset checkpoint, ONNX) on 1-8 excerpts;
#      mood_model "musicnn-msd" (MOOD_MODEL=descriptor keeps the descriptor estimates).
# 1.16: the tracker's period is also checked against 4:5 (a lock on five sixteenths, e.g. a trance arpeggio).
ANALYZER_VERSION = "essentia-api/1.16"

MOOD_NAMES = ("happy", "sad", "aggressive", "relaxed", "party")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TempoAlternative(_Model):
    bpm: float = Field(description="The other octave reading (half or double time), two decimals")
    score: float = Field(description="Evidence for the alternative relative to the chosen tempo, 0..1")


class BpmCandidate(_Model):
    """A tempo reading: the chosen tempo or one of its octave alternatives (half or double time)."""

    bpm: float
    confidence: float = Field(ge=0, le=1, description="Share of the octave evidence, 0..1 (candidates sum to 1)")
    relation: Literal["chosen", "half", "double"] = "chosen"


class KeyAlternative(_Model):
    """The runner-up key (usually the relative major/minor) and its confidence."""

    key: str
    scale: Literal["major", "minor"]
    camelot: str
    confidence: float = Field(ge=0, le=1)


class KeyCandidate(_Model):
    key: str
    scale: Literal["major", "minor"]
    camelot: str
    score: float


class EnergyFeatures(_Model):
    """Raw features the 1-10 energy rating is built from (kept so the rating can be re-derived)."""

    loudness_lufs: float
    rms_db: float = Field(description="Mean RMS level of the mono mix, dBFS")
    onset_rate: float = Field(description="Percussive onsets per second")
    spectral_centroid_hz: float
    spectral_flux: float = Field(description="Mean positive spectral flux, normalized")
    low_energy_ratio: float = Field(description="Share of spectral energy below 250 Hz")
    dynamic_range_db: float = Field(description="Spread of short-term loudness, 95th-10th percentile")
    bpm: float
    danceability: float


class MoodScores(_Model):
    """Scores 0..1 per mood. `mood_model` says where they come from."""

    happy: float
    sad: float
    aggressive: float
    relaxed: float
    party: float


class Waveform(_Model):
    """Compact peak summary for drawing: per bucket the max absolute amplitude (0..1) of the mix,
    plus low/mid/high band energy (0..1) for a coloured display."""

    points_per_second: float
    peaks: list[float]
    low: list[float]
    mid: list[float]
    high: list[float]


class AnalysisResult(_Model):
    analyzer_version: str = ANALYZER_VERSION
    essentia_version: str

    duration_seconds: float
    sample_rate: int
    channels: int
    codec: str | None = None

    bpm: float = Field(description="Tempo in the preferred DJ range, two decimals")
    bpm_confidence: float = Field(description="Beat tracker agreement, 0..1 (Essentia's 0..5.32 scaled)")
    bpm_raw: float = Field(description="Tempo as the beat tracker read it, before octave correction")
    bpm_alternative: TempoAlternative | None = None
    bpm_candidates: list[BpmCandidate] | None = Field(
        None,
        description="The chosen tempo and its octave alternatives inside 50-220 BPM, highest confidence first "
        "(analysis/alternatives.py); absent from results made before analyzer 1.4",
    )
    beats: list[float] = Field(description="Beat positions in seconds (constant grid fitted to the beats)")
    first_beat: float
    phrase_starts: list[float] = Field(
        default_factory=list,
        description="Downbeats where a phrase (16 beats) starts, found from cymbal marks such as a crash; "
        "empty when the track has no clear marks",
    )
    phrase_confidence: float = Field(0.0, description="0..1; 0 when no phrase grid was found")

    key: str = Field(description="Tonic, e.g. 'A', 'F#', 'Eb'")
    scale: Literal["major", "minor"]
    camelot: str = Field(description="Camelot code, e.g. '8A'")
    open_key: str
    key_strength: float = Field(
        description="0..1: the key's mean chord score per bar (tonic chord 1, other chords of the key less, "
        "chords outside it count against); Essentia KeyExtractor's profile strength when the track has no beat grid"
    )
    key_candidates: list[KeyCandidate] = Field(default_factory=list)
    key_confidence: float | None = Field(
        None, ge=0, le=1, description="Probability that the key is right: chord, profile and bass evidence, "
        "calibrated on the held-out benchmark's tuning split (docs/benchmarks.md)"
    )
    key_alternative: KeyAlternative | None = Field(None, description="The runner-up key with its confidence")

    danceability: float = Field(description="Normalized 0..1")
    danceability_raw: float = Field(description="Essentia Danceability output, roughly 0..3")

    energy: int = Field(ge=1, le=10, description="1..10, the scale DJs know from Mixed In Key")
    energy_score: float = Field(description="Continuous 0..1 value the rating is rounded from")
    energy_features: EnergyFeatures

    loudness_lufs: float = Field(description="EBU R128 integrated loudness, LUFS")
    loudness_range_lu: float = Field(description="EBU R128 loudness range, LU")

    moods: MoodScores
    mood_model: str = Field(
        description="'descriptor' for descriptor-based estimates, else the model set used"
    )

    waveform: Waveform
    timings_ms: dict[str, float] = Field(default_factory=dict)


class AnalyzeByPath(_Model):
    """JSON body of POST /analyze when the file is already under AUDIO_DIR."""

    path: str = Field(description="Path relative to AUDIO_DIR")


class ErrorBody(BaseModel):
    """Body of every 4xx/5xx from the analysis service."""

    detail: str
    code: str
