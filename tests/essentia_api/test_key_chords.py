"""The chord-based key decision (analysis/key.py, analyzer 1.8): chords per bar of the beat grid, each key
scoring the chords by their function in it, and KeyExtractor when there is no beat grid."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.camelot import pitch_class
from services.essentia_api.analysis import ess
from services.essentia_api.analysis.key import (
    CHORD_LABELS,
    CHORD_TEMPLATES,
    DOM7_MATCH_FACTOR,
    RELATIVE_CHORD_MARGIN,
    Chroma,
    analyze_key,
    bar_chords,
    chord_key_scores,
)
from services.essentia_api.analysis.loading import load_audio
from services.essentia_api.analysis.rhythm import analyze_rhythm
from services.essentia_api.analysis.spectral import stft
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip, write_wav

C, D, E, F, G, A = 0, 2, 4, 5, 7, 9


def _best(chords):
    scores = chord_key_scores(chords)
    return max(scores, key=scores.get), scores


@pytest.mark.parametrize(
    ("chords", "key"),
    [
        # I-vi-ii-V7 in C: profiles read it a step off (1.7 missed 7 of these on the test split)
        ([(C, "maj"), (A, "min"), (D, "min"), (G, "7")] * 4, (C, "major")),
        # i-VII-VI-VII in A minor: no C major chord at all, so not C major, and not G (its VII)
        ([(A, "min"), (G, "maj"), (F, "maj"), (G, "maj")] * 4, (A, "minor")),
        # IV-V-I-I in G: the tonic chord, not the dominant D
        ([(C, "maj"), (D, "maj"), (G, "maj"), (G, "maj")] * 4, (G, "major")),
        # i-iv-v-i in E minor, with the minor v
        ([(E, "min"), (A, "min"), (11, "min"), (E, "min")] * 4, (E, "minor")),
    ],
)
def test_the_tonic_chord_and_the_functions_around_it_decide(chords, key):
    assert _best(chords)[0] == key


def test_a_loop_shared_with_the_relative_key_is_left_to_the_phrase_starts():
    # A minor's i-VI-III-VII has every chord of C major's vi-IV-I-V: the two keys score within the
    # margin under which phrase starts may switch, and clearly above every other key.
    best, scores = _best([(A, "min"), (F, "maj"), (C, "maj"), (G, "maj")] * 4)
    assert best in ((A, "minor"), (C, "major"))
    assert abs(scores[(A, "minor")] - scores[(C, "major")]) < RELATIVE_CHORD_MARGIN
    others = [s for k, s in scores.items() if k not in ((A, "minor"), (C, "major"))]
    assert max(others) < scores[best] - RELATIVE_CHORD_MARGIN


def _chroma_of(bars: list[np.ndarray], *, frames_per_bar: int = 4) -> Chroma:
    frames = np.repeat(np.array(bars, dtype=np.float32), frames_per_bar, axis=0)
    n = len(frames)
    return Chroma(
        mean36=np.zeros(36, np.float32),
        chroma12=np.ones(12, np.float32),
        bass12=np.ones(12, np.float32),
        bass_frames=np.zeros((n, 12), np.float32),
        frame_times=np.arange(n) * 0.25 + 0.125,  # 4 frames per second
        active=np.ones(n, bool),
        chord_frames=frames,
    )


def test_each_bar_gets_its_chord_and_drum_only_bars_do_not_vote():
    c_major, a_minor, g7 = (CHORD_TEMPLATES[CHORD_LABELS.index(c)] for c in ((C, "maj"), (A, "min"), (G, "7")))
    silence = np.zeros(12)
    ch = _chroma_of([c_major, silence, a_minor, g7])
    beats = np.arange(17) * 0.25  # 4 beats a second: one bar per second, one frame per beat
    assert bar_chords(ch, beats=beats) == [(C, "maj"), (A, "min"), (G, "7")]
    assert bar_chords(ch, beats=None) == []
    assert bar_chords(ch, beats=beats[:4]) == []  # less than a bar of beats


def test_a_major_chord_with_some_flat_seventh_stays_a_triad_and_a_real_seventh_does_not():
    def chord(root: int, seventh: float) -> np.ndarray:
        v = np.zeros(12)
        v[[root, (root + 4) % 12, (root + 7) % 12]] = (1.0, 0.7, 0.8)
        v[(root + 10) % 12] = seventh
        return v

    beats = np.arange(13) * 0.25
    # Overtones and melody put a little energy on the flat seventh: still the tonic triad, not V7 of
    # the subdominant's key (1.10 read this bar as Eb7; DOM7_MATCH_FACTOR).
    Eb = pitch_class("Eb")
    ch = _chroma_of([chord(Eb, 0.4), chord(Eb, 0.8), chord(G, 0.0)])
    assert bar_chords(ch, beats=beats) == [(Eb, "maj"), (Eb, "7"), (G, "maj")]
    assert DOM7_MATCH_FACTOR < 1.0


@pytest.fixture(scope="module")
def house_clip(tmp_path_factory):
    spec = ClipSpec(bpm=124.0, tonic=D, scale="major", seconds=24, style="house", progression=1, seed=3)
    path = write_wav(tmp_path_factory.mktemp("chords") / "house.wav", synth_clip(spec))
    audio = load_audio(path=str(path))
    rhythm = analyze_rhythm(
        st=stft(signal=audio.mono_lo, sample_rate=audio.lo_rate), duration=audio.duration, bpm_min=70, bpm_max=180
    )
    return audio, rhythm


def test_with_a_beat_grid_the_chords_decide_and_give_the_strength(house_clip):
    audio, rhythm = house_clip
    res = analyze_key(signal=audio.mono_lo, sample_rate=audio.lo_rate, beats=rhythm.beats)
    assert (pitch_class(res.key), res.scale) == (D, "major")
    assert 0 < res.strength <= 1
    assert (res.candidates[0][0], res.candidates[0][1]) == (res.key, res.scale)


def test_without_a_beat_grid_keyextractor_decides(house_clip):
    audio, _ = house_clip
    res = analyze_key(signal=audio.mono_lo, sample_rate=audio.lo_rate, beats=None)
    key, scale, strength = ess().KeyExtractor(profileType="edma", sampleRate=audio.lo_rate)(
        np.ascontiguousarray(audio.mono_lo, dtype=np.float32)
    )
    assert res.strength == pytest.approx(strength)
    assert (pitch_class(res.key), res.scale) == (pitch_class(key), scale) == (D, "major")


@pytest.mark.parametrize(("bass_note", "key"), [(A, (A, "minor")), (C, (C, "major"))])
def test_a_loop_tied_with_its_relative_goes_to_the_key_its_bass_supports(monkeypatch, bass_note, key):
    # A minor's i-VI-III-VII and C major's vi-IV-I-V score exactly the same (1.12): the bass picks the key,
    # whichever of the two comes first in the keys' order (that decided before).
    from services.essentia_api.analysis import key as key_module

    loop = [(A, "min"), (F, "maj"), (C, "maj"), (G, "maj")] * 4
    scores = chord_key_scores(loop)
    assert scores[(A, "minor")] == pytest.approx(scores[(C, "major")])
    ch = _chroma_of([CHORD_TEMPLATES[CHORD_LABELS.index(c)] for c in loop])
    ch.bass12 = np.full(12, 0.2, np.float32)
    ch.bass12[bass_note] = 1.0
    monkeypatch.setattr(key_module, "chromas", lambda **_: ch)
    res = analyze_key(signal=np.zeros(4096, np.float32), sample_rate=11025.0, beats=np.arange(65) * 0.25)
    assert (pitch_class(res.key), res.scale) == key


def _with_melody(loop: list[tuple[int, str]], phrase_end_note: int | None) -> Chroma:
    """Chroma of `loop` (one bar each, one frame per beat) with a melody playing the chord's root, and
    `phrase_end_note` on the last beat of every 8-bar group."""
    ch = _chroma_of([CHORD_TEMPLATES[CHORD_LABELS.index(c)] for c in loop])
    melody = np.zeros((len(loop) * 4, 12), np.float32)
    for bar, (root, _) in enumerate(loop):
        melody[bar * 4:bar * 4 + 4, root] = 1.0
    if phrase_end_note is not None:
        for end in range(32, len(melody) + 1, 32):
            melody[end - 1] = 0.1
            melody[end - 1, phrase_end_note] = 1.0
    ch.melody_frames = melody
    return ch


@pytest.mark.parametrize(("phrase_end_note", "key"),
                         [(C, (C, "major")), (A, (A, "minor")), (None, (A, "minor"))])
def test_where_the_chords_nearly_tie_the_melodys_phrase_end_note_picks_the_key(monkeypatch, phrase_end_note,
                                                                                 key):
    # A minor's i-III-VII-iv scores a little above C major's vi-I-V-ii (1.13): within CADENCE_CHORD_MARGIN, so
    # the note the melody ends each 8-bar phrase on decides; without a melody the chords do.
    from services.essentia_api.analysis import key as key_module

    loop = [(A, "min"), (C, "maj"), (G, "maj"), (D, "min")] * 6
    scores = chord_key_scores(loop)
    assert 0 < scores[(A, "minor")] - scores[(C, "major")] <= key_module.CADENCE_CHORD_MARGIN
    ch = _with_melody(loop, phrase_end_note)
    if phrase_end_note is None:
        ch.melody_frames = None
    monkeypatch.setattr(key_module, "chromas", lambda **_: ch)
    res = analyze_key(signal=np.zeros(4096, np.float32), sample_rate=11025.0, beats=np.arange(97) * 0.25)
    assert (pitch_class(res.key), res.scale) == key
    assert (pitch_class(res.candidates[1][0]), res.candidates[1][1]) in ((A, "minor"), (C, "major"))


def test_the_cadence_chroma_gives_every_phrase_end_one_vote_and_needs_two():
    from services.essentia_api.analysis.key import cadence_chroma

    loop = [(A, "min"), (C, "maj"), (G, "maj"), (D, "min")] * 6
    ch = _with_melody(loop, C)
    ch.melody_frames[63] *= 1000.0  # one loud phrase end (the second) does not outvote the others
    ch.melody_frames[95, :] = 0.0
    ch.melody_frames[95, E] = 1.0
    beats = np.arange(97) * 0.25
    cadence = cadence_chroma(ch, beats=beats)
    assert cadence[C] == pytest.approx(1.0)  # two of the three phrase ends
    assert cadence[E] == pytest.approx(0.5 + 0.1 / 2, abs=0.06)
    assert cadence_chroma(ch, beats=beats[:64]) is None  # one phrase end (beat 32): not two votes
    assert cadence_chroma(ch, beats=beats[:65])[C] == pytest.approx(1.0)
