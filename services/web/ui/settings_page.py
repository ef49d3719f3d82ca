"""The settings page (/settings): which outside services are configured (and why not), each one's last
error, the Spotify connection (its partial, when present), and the prompt templates of the OpenAI features
(everyone sees them; only admins save or reset one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from services.domain.accounts import service as accounts
from services.domain.enrichment import overview, prompts
from services.domain.errors import Invalid
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.routes.users import discogs_status
from services.web.ui.templates import templates

router = APIRouter(include_in_schema=False)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(request, "settings.html", {
        "user": user, "sources": overview.source_overview(session=session),
        "prompts": prompts.listing(session=session), "notice": None, "discogs": discogs_status(user)})


@router.post("/settings/discogs", response_class=HTMLResponse)
def save_discogs_token(request: Request, user: CurrentUser, session: SessionDep,
                       token: Annotated[str, Form(max_length=200)] = "", clear: Annotated[str, Form()] = "") -> HTMLResponse:
    """Set (or with `clear`, remove) your own Discogs token; answers the section again, token masked."""
    if not clear and not token.strip():
        raise Invalid("enter a token, or remove yours", code="bad_discogs_token")
    accounts.set_discogs_token(session=session, user=user, token=None if clear else token)
    return templates.TemplateResponse(request, "_discogs_token.html", {
        "user": user, "discogs": discogs_status(user), "notice": "Removed." if clear else "Saved."})


def _prompt_form(request: Request, session, user, name: str, notice: str) -> HTMLResponse:
    prompt = next(p for p in prompts.listing(session=session) if p["name"] == name)
    return templates.TemplateResponse(request, "_prompt_form.html", {"user": user, "p": prompt, "notice": notice})


@router.post("/settings/prompts/{name}", response_class=HTMLResponse)
def save_prompt(request: Request, name: str, user: CurrentUser, session: SessionDep,
                text: Annotated[str, Form()] = "") -> HTMLResponse:
    """Admins: save a template (422 naming an unknown placeholder, shown in the form)."""
    text = text.replace("\r\n", "\n")
    prompts.save_template(session=session, user=user, name=name, text=text)
    return _prompt_form(request, session, user, name, "Saved.")


@router.post("/settings/prompts/{name}/reset", response_class=HTMLResponse)
def reset_prompt(request: Request, name: str, user: CurrentUser, session: SessionDep) -> HTMLResponse:
    prompts.reset_template(session=session, user=user, name=name)
    return _prompt_form(request, session, user, name, "Back to the default.")
