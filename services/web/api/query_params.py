"""Unknown query parameters are refused (422 naming them) on every API route: a misspelt `?sortt=year` must
not answer 200 with the default order as if it had been read. A route that receives a third party's
redirect (OAuth) lists itself with `openapi_extra={EXTRA_QUERY: "allowed"}`. On a route that needs a user the
check runs once the user is known (deps.get_current_user): an anonymous request gets its 401 first."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

EXTRA_QUERY = "x-extra-query"


def _names(dependant: Dependant) -> set[str]:
    """The query parameter names a route reads: its own, its dependencies', query models' fields."""
    names: set[str] = set()
    todo = [dependant]
    while todo:
        current = todo.pop()
        todo.extend(current.dependencies)
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names |= {f.alias or name for name, f in model.model_fields.items()}
            else:
                names.add(field.alias)
    return names


_CACHE = "_djp_query_names"  # on the route object: (names or None for any, whether it needs a user)


def _needs_user(dependant: Dependant) -> bool:
    from services.web.api.deps import get_current_user

    todo = [dependant]
    while todo:
        current = todo.pop()
        if current.call is get_current_user:
            return True
        todo.extend(current.dependencies)
    return False


def _known(route) -> tuple[frozenset[str] | None, bool]:
    known = getattr(route, _CACHE, None)
    if known is None:
        extra = (getattr(route, "openapi_extra", None) or {}).get(EXTRA_QUERY) == "allowed"
        known = (None if extra else frozenset(_names(route.dependant)), _needs_user(route.dependant))
        setattr(route, _CACHE, known)
    return known


def check_query(request: Request) -> None:
    """422 naming the query parameters the matched API route does not read."""
    route = request.scope.get("route")
    if route is None or not request.query_params or not request.scope["path"].startswith("/api/"):
        return
    known, _ = _known(route)
    if known is None:
        return
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted",
             "input": request.query_params.get(name)} for name in unknown])


async def reject_unknown_query(request: Request) -> None:
    """Every API router's dependency: checks at once where no user is needed, else leaves it to
    get_current_user (after the user is known)."""
    route = request.scope.get("route")
    if route is not None and request.query_params and not _known(route)[1]:
        check_query(request)
