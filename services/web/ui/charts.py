"""Server-rendered SVG charts for sets: the BPM and energy curve, and the path on the Camelot wheel.

Plain SVG strings (no JS, no CDN) so pages stay light and tests can read them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from services.common.camelot import KeyParseError, parse_key


def _polyline(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def set_curve_svg(
    *,
    labels: Sequence[str],
    bpms: Sequence[float | None],
    energies: Sequence[float | None],
    energy_targets: Sequence[float | None] | None = None,
    width: int = 720,
    height: int = 220,
) -> str:
    """BPM (left axis) and energy 1-10 (right axis) per position; gaps where analysis is missing.

    `energy_targets` (1-10, None off the curve): the energy curve the set was built for, drawn dashed
    under the actual energy, each point titled "target x, actual y"."""
    n = len(labels)
    pad_l, pad_r, pad_t, pad_b = 44, 36, 14, 26
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    known_bpm = [b for b in bpms if b is not None]
    lo = math.floor(min(known_bpm) - 2) if known_bpm else 100
    hi = math.ceil(max(known_bpm) + 2) if known_bpm else 140

    def x(i: int) -> float:
        return pad_l + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y_bpm(b: float) -> float:
        return pad_t + inner_h * (1 - (b - lo) / max(hi - lo, 1))

    def y_energy(e: float) -> float:
        return pad_t + inner_h * (1 - (e - 1) / 9)

    def segments(values: Sequence[float | None], ymap) -> list[str]:
        runs, run = [], []
        for i, v in enumerate(values):
            if v is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append((x(i), ymap(v)))
        if run:
            runs.append(run)
        return [_polyline(r) for r in runs]

    targets = list(energy_targets or [])[:n]
    has_targets = any(t is not None for t in targets)
    parts = [
        f'<svg class="set-curve" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="BPM and energy by position{", with the target energy curve" if has_targets else ""}">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#2a2e38"/>',
        f'<text x="4" y="{pad_t + 10}" fill="#7fb3ff" font-size="11">{hi} BPM</text>',
        f'<text x="4" y="{pad_t + inner_h}" fill="#7fb3ff" font-size="11">{lo}</text>',
        f'<text x="{width - pad_r + 4}" y="{pad_t + 10}" fill="#e4572e" font-size="11">E10</text>',
        f'<text x="{width - pad_r + 4}" y="{pad_t + inner_h}" fill="#e4572e" font-size="11">E1</text>',
    ]
    for seg in segments(targets, y_energy):
        parts.append(
            f'<polyline class="energy-target" points="{seg}" fill="none" stroke="#f0b429" '
            f'stroke-width="2" stroke-dasharray="6 4"/>'
        )
    for i, t in enumerate(targets):
        if t is not None:
            actual = energies[i] if i < len(energies) else None
            words = f"target energy {t:.1f}, actual {'unknown' if actual is None else f'{actual:.1f}'}"
            parts.append(
                f'<circle class="energy-target-point" cx="{x(i):.1f}" cy="{y_energy(t):.1f}" r="3" fill="#f0b429">'
                f"<title>#{i + 1} {escape(labels[i])}: {words}</title></circle>"
            )
    for seg in segments(bpms, y_bpm):
        parts.append(f'<polyline class="bpm" points="{seg}" fill="none" stroke="#7fb3ff" stroke-width="2"/>')
    for seg in segments(energies, y_energy):
        parts.append(
            f'<polyline class="energy" points="{seg}" fill="none" stroke="#e4572e" stroke-width="2"/>'
        )
    for i, (label, e) in enumerate(zip(labels, energies, strict=True)):
        if e is not None:
            parts.append(
                f'<circle class="energy-point" cx="{x(i):.1f}" cy="{y_energy(e):.1f}" r="3" fill="#e4572e">'
                f"<title>#{i + 1} {escape(label)}: energy {e:.1f}</title></circle>"
            )
    for i, (label, b) in enumerate(zip(labels, bpms, strict=True)):
        if b is not None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y_bpm(b):.1f}" r="3" fill="#7fb3ff">'
                f"<title>{escape(label)}: {b:.2f} BPM</title></circle>"
            )
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 8}" fill="#9aa0aa" font-size="10" '
            f'text-anchor="middle">{i + 1}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def camelot_path_svg(*, codes: Sequence[str | None], size: int = 260) -> str:
    """The Camelot wheel (outer ring B/major, inner ring A/minor) with the set's key path drawn on it."""
    c = size / 2
    r_outer, r_inner = size * 0.38, size * 0.27

    def pos(number: int, letter: str, *, label: bool = False) -> tuple[float, float]:
        angle = math.radians(-90 + (number % 12) * 30)  # 12 at the top, clockwise like the wheel
        r = r_outer if letter == "B" else r_inner
        if label:  # labels sit just off the ring so the path's dots never hide them
            r += 15 if letter == "B" else -15
        return c + r * math.cos(angle), c + r * math.sin(angle)

    parts = [
        f'<svg class="camelot-path" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'role="img" aria-label="Key path on the Camelot wheel">',
        f'<circle cx="{c}" cy="{c}" r="{r_outer}" fill="none" stroke="#2a2e38"/>',
        f'<circle cx="{c}" cy="{c}" r="{r_inner}" fill="none" stroke="#2a2e38"/>',
    ]
    for number in range(1, 13):
        for letter in "AB":
            px, py = pos(number, letter, label=True)
            parts.append(
                f'<text x="{px:.1f}" y="{py + 3:.1f}" fill="#5d6370" font-size="9" '
                f'text-anchor="middle">{number}{letter}</text>'
            )
    path = []
    for code in codes:
        try:
            key = parse_key(code) if code else None
        except KeyParseError:
            key = None
        if key is not None:
            path.append(pos(key.number, key.letter))
    if path:
        parts.append(
            f'<polyline class="key-path" points="{_polyline(path)}" fill="none" stroke="#e4572e" '
            f'stroke-width="2" stroke-opacity="0.8"/>'
        )
        for i, (px, py) in enumerate(path):
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{6 if i == 0 else 4}" '
                f'fill="{"#7fb3ff" if i == 0 else "#e4572e"}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def waveform_svg(
    *,
    peaks: Sequence[float],
    beats: Sequence[float] = (),
    phrase_starts: Sequence[float] = (),
    duration: float | None = None,
    beats_per_bar: int = 4,
    width: int = 900,
    height: int = 90,
) -> str:
    """Mirrored peak waveform with a tick every bar (`beats_per_bar` of the given beats) and full-height
    phrase markers, like a DJ deck's overview."""
    n = len(peaks)
    if n == 0:
        return ""
    mid = height / 2
    step = width / n
    bars = "".join(
        f'<rect x="{i * step:.2f}" y="{mid - p * mid:.1f}" width="{max(step * 0.9, 0.5):.2f}" '
        f'height="{max(2 * p * mid, 0.5):.1f}"/>'
        for i, p in enumerate(peaks)
    )
    ticks = ""
    if duration and beats:
        ticks = "".join(
            f'<line x1="{b / duration * width:.1f}" y1="0" x2="{b / duration * width:.1f}" y2="6"/>'
            for b in beats[::max(beats_per_bar, 1)]
        )
    phrases = ""
    if duration and phrase_starts:
        phrases = "".join(
            f'<line class="phrase" x1="{t / duration * width:.1f}" y1="0" x2="{t / duration * width:.1f}" '
            f'y2="{height}"><title>Phrase start {int(t // 60)}:{t % 60:04.1f}</title></line>'
            for t in phrase_starts
        )
    return (
        f'<svg class="waveform" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" role="img" aria-label="Waveform">'
        f'<g fill="#7fb3ff">{bars}</g><g stroke="#e4572e" stroke-width="1">{ticks}</g>'
        f'<g stroke="#ffd166" stroke-width="1.5">{phrases}</g></svg>'
    )
