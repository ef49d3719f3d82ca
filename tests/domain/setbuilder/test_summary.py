"""How a set is described to a DJ (services/domain/setbuilder/service.py): transitions in words and
numbers, energy against the curve, duration, set score, and where the unanalysed tracks went."""

from __future__ import annotations

import pytest

from services.common.contracts.setbuilder import GenerateRequest
from services.common.models import Track
from services.domain.setbuilder.models import SetBuildOptions, UnanalysedTrack
from services.domain.setbuilder.service import set_summary, summary_of_build, to_set_track, unanalysed_note
from services.ga_service.service import generate_set


def track(pk: int, title: str, bpm=None, camelot=None, energy=None, duration=None, artist=None) -> Track:
    return Track(id=pk, title=title, bpm=bpm, camelot=camelot, energy=energy, duration_seconds=duration,
                 artist=artist or f"Artist {pk}")


def crate() -> list[Track]:
    return [
        track(1, "Peak", 128.0, "12B", 9.0, 300.0),
        track(2, "Raw", duration=200.0),
        track(3, "Opener", 118.0, "8A", 3.0, 310.0),
        track(4, "Build", 122.0, "9A", 5.0, None),
        track(5, "No Energy", 124.0, "10A", None, 280.0),
        track(6, "Lift", 125.0, "10A", 7.0, 290.0),
    ]


def test_a_stored_set_is_described_as_it_is():
    tracks = crate()
    summary = set_summary(tracks=tracks)
    assert summary.track_count == 6
    assert summary.total_duration_s == 300 + 200 + 310 + 290 + 280 and summary.durations_unknown == 1
    assert [(t.from_track_pk, t.to_track_pk) for t in summary.transitions] == [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    smooth = summary.transitions[2].mix  # Opener 8A 118 -> Build 9A 122
    assert smooth.parts["key"].label == "adjacent key (8A→9A)"
    assert smooth.parts["tempo"].label == "+4.0 BPM (3.4%)"
    assert smooth.parts["energy"].label == "energy 3 → 5 (+2)"  # the 1-10 scale the page shows
    assert summary.transitions[0].mix.verdict == "Unknown"  # into "Raw": nothing to judge by
    assert summary.set_score == pytest.approx(sum(t.mix.score for t in summary.transitions) / 5, abs=0.05)
    assert all(e.target is None for e in summary.energy)  # no curve for a stored set
    assert [(u.track_pk, u.missing, u.position) for u in summary.unanalysed] == [
        (2, ["bpm", "key", "energy"], 1), (5, ["energy"], 4)]
    assert summary.unanalysed_note == (
        "2 tracks lack analysis: “Raw” (#2, no BPM, key or energy), “No Energy” (#5, no energy). "
        "“Build the set” puts such tracks at the end or leaves them out; analyse them to have them placed on merit."
    )
    assert set_summary(tracks=tracks[:1]).set_score is None
    assert set_summary(tracks=[tracks[0], tracks[2]]).unanalysed_note is None


def _build(tracks: list[Track], **options) -> tuple:
    opts = SetBuildOptions(seed=1, time_budget_s=3, **options)
    request = GenerateRequest(mode="order", tracks=[to_set_track(t) for t in tracks], options=opts.to_set_options())
    result = generate_set(request=request)
    by_pk = {t.id: t for t in tracks}
    order = [by_pk[int(i)] for i in result.order]
    return order, summary_of_build(result, order, tracks=by_pk, options=opts)


def test_a_built_set_says_where_the_unanalysed_tracks_went():
    order, summary = _build(crate(), energy_curve="rising")
    assert [t.title for t in order] == ["Opener", "Build", "Lift", "Peak", "Raw", "No Energy"]
    assert [e.target for e in summary.energy] == [3.0, pytest.approx(5.0), pytest.approx(7.0), 9.0, None, None]
    assert summary.unanalysed_note == (
        "2 tracks lack analysis, so the set builder put them after the analysed tracks (#5–#6, in their previous "
        "order): “Raw” (no BPM, key or energy), “No Energy” (no energy)."
    )
    order, summary = _build(crate(), energy_curve="peak", unanalysed="exclude", first_track_pk=2)
    assert [t.title for t in order][0] == "Raw" and len(order) == 5
    assert summary.unanalysed_note == (
        "Kept in place although unanalysed: “Raw” (#1, no BPM, key or energy). "
        "Left out for lack of analysis: “No Energy” (no energy)."
    )
    peak = max(range(1, 5), key=lambda k: order[k].energy)
    assert order[peak].title == "Peak" and 1 / 3 <= peak / 4 <= 2 / 3


def test_unanalysed_note_wording():
    one = [UnanalysedTrack(track_pk=7, title="Dub", missing=["key", "energy"], position=9)]
    assert unanalysed_note(one, "end", moved={7}) == (
        "1 track lacks analysis, so the set builder put it after the analysed tracks (#10, in their previous "
        "order): “Dub” (no key or energy)."
    )
    many = [UnanalysedTrack(track_pk=i, title=f"T{i}", missing=["bpm"], position=i) for i in range(10)]
    note = unanalysed_note(many, "end", moved=set(range(10)))
    assert "(#1–#10, in their previous order)" in note and note.endswith("“T7” (no BPM) and 2 more.")
    assert unanalysed_note([], "end") is None
