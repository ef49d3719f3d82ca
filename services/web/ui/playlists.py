"""Playlist page: the set with its BPM/energy curve and Camelot path, and the "Build the set" form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.common.models import User
from services.common.transition import TransitionOptions, Weights, mix_verdict
from services.domain.errors import Invalid
from services.domain.playlists.service import get_playlist, hidden_track_count
from services.domain.setbuilder.models import SetBuildOptions, SetSummary
from services.domain.setbuilder.service import generate_for_playlist, set_summary
from services.web.api.deps import CurrentUser, SessionDep
from services.web.ui.charts import camelot_path_svg, set_curve_svg
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


def duration_text(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def playlist_context(
    session: Session, user: User, playlist_id: int, *, summary: SetSummary | None = None,
    options: TransitionOptions | None = None,
) -> dict:
    """The playlist page's context. `summary` (and the `options` it was built with): the set just built,
    with its energy targets and where the unanalysed tracks went; without it the stored order is
    described as it is."""
    playlist = get_playlist(session=session, user=user, playlist_id=playlist_id)
    tracks = [item.track for item in playlist.items]
    if summary is None or [e.track_pk for e in summary.energy] != [t.id for t in tracks]:
        summary, options = set_summary(tracks=tracks), None
    options = options or TransitionOptions()
    targets = [e.target for e in summary.energy]
    return {
        "user": user,
        "playlist": playlist,
        "hidden_tracks": hidden_track_count(session=session, playlist=playlist),
        # The first track has no transition into it.
        "rows": list(zip(tracks, [None, *summary.transitions][: len(tracks)], strict=True)),
        "summary": summary,
        "duration_text": duration_text(summary.total_duration_s),
        "set_verdict": mix_verdict(summary.set_score),
        "weights": options.weights,
        "pitch_range": options.pitch_range_pct,
        "unanalysed_pks": {u.track_pk for u in summary.unanalysed if u.position is not None},
        "has_targets": any(t is not None for t in targets),
        "curve_svg": set_curve_svg(
            labels=[t.title for t in tracks], bpms=[t.bpm for t in tracks], energies=[t.energy for t in tracks],
            energy_targets=targets,
        )
        if tracks
        else "",
        "camelot_svg": camelot_path_svg(codes=[t.camelot for t in tracks]) if tracks else "",
        "has_audio": any(t.local_audio_path and t.deleted_at is None for t in tracks),
    }


@router.get("/playlists/{playlist_id}", response_class=HTMLResponse)
def playlist_page(playlist_id: int, request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "playlist.html", playlist_context(session, user, playlist_id))


CURVE_STRENGTH = {"loose": 1.5, "balanced": Weights().energy, "strict": 12.0}


@router.post("/playlists/{playlist_id}/generate", response_class=HTMLResponse)
def playlist_generate(
    playlist_id: int,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    mode: Annotated[str, Form()] = "order",
    energy_curve: Annotated[str, Form()] = "none",
    curve_strength: Annotated[str, Form()] = "balanced",
    unanalysed: Annotated[str, Form()] = "end",
    seed: Annotated[str, Form()] = "0",
) -> HTMLResponse:
    """The form on the playlist page: reorder with the set builder and re-render the set panel.
    Bad input is a domain error (4xx JSON the page's error handler shows next to the form)."""
    if mode not in ("order", "greedy"):
        raise Invalid(f"unknown mode {mode!r}: order or greedy")
    if curve_strength not in CURVE_STRENGTH:
        raise Invalid(f"unknown curve strength {curve_strength!r}: {', '.join(CURVE_STRENGTH)}")
    try:
        options = SetBuildOptions(
            energy_curve=energy_curve, unanalysed=unanalysed, seed=seed or 0,
            weights=Weights(energy=CURVE_STRENGTH[curve_strength]),
        )
    except ValidationError as exc:
        raise Invalid("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    built = generate_for_playlist(session=session, user=user, playlist_id=playlist_id, mode=mode, options=options)
    context = playlist_context(session, user, playlist_id, summary=built.summary, options=options)
    return templates.TemplateResponse(request, "_set_panel.html", context)
