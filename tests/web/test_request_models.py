"""Every JSON request body refuses fields it does not know (422 naming them): a misspelt field is never
dropped in silence (`{"track_ids": [...]}` for `track_pks` used to create an empty playlist, answered 201)."""

from __future__ import annotations

import importlib
import pkgutil
import typing

from fastapi.routing import APIRoute
from pydantic import BaseModel

import services.web.api.routes as api_routes
import services.web.ui as ui_routes


def _models(annotation) -> list[type[BaseModel]]:
    found = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    for arg in typing.get_args(annotation):
        found += _models(arg)
    return found


def _body_models() -> dict[str, type[BaseModel]]:
    """Every pydantic model a route reads from a JSON body (nested ones included), by "METHOD path: Model"."""
    models: dict[str, type[BaseModel]] = {}
    for package in (api_routes, ui_routes):
        for info in pkgutil.iter_modules(package.__path__):
            router = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "router", None)
            for route in getattr(router, "routes", []):
                if not isinstance(route, APIRoute):
                    continue
                for param in route.dependant.body_params:
                    todo = _models(param.field_info.annotation)
                    while todo:
                        model = todo.pop()
                        name = f"{'/'.join(sorted(route.methods))} {route.path}: {model.__name__}"
                        if name not in models:
                            models[name] = model
                            for field in model.model_fields.values():
                                todo += _models(field.annotation)
    return models


def test_every_json_body_forbids_unknown_fields():
    models = _body_models()
    assert len(models) > 20  # the walk found the routes (a broken walk must not pass by finding nothing)
    lenient = [name for name, model in models.items() if model.model_config.get("extra") != "forbid"]
    assert not lenient, "request models that drop unknown fields: " + ", ".join(sorted(lenient))


def test_a_misspelt_field_is_refused_not_dropped(user_client):
    r = user_client.post("/api/playlists", json={"name": "Saturday", "track_ids": [1, 2]})
    assert r.status_code == 422 and "track_ids" in r.text
    assert user_client.get("/api/playlists").json() == []  # nothing was created
    r = user_client.post("/api/libraries", json={"name": "Crates", "discogs_user": "someone"})
    assert r.status_code == 422 and "discogs_user" in r.text


def test_unknown_query_parameters_are_refused_after_authentication(user_client, client):
    for url, name in (("/api/albums?sortt=year", "sortt"), ("/api/playlists?foo=1", "foo"),
                      ("/api/spins?x=1", "x"), ("/api/tracks/search?qq=amen", "qq"),
                      ("/api/jobs?knd=analysis", "knd")):
        r = user_client.get(url)
        assert r.status_code == 422 and name in r.json()["detail"], (url, r.text)
    assert user_client.get("/api/albums?sort=year&limit=5").status_code == 200  # what the route reads
    assert user_client.get("/api/jobs?kind=analysis&limit=3").status_code == 200  # a query model's fields
    assert client.get("/api/albums?sortt=year").status_code == 401  # the anonymous hear 401 first
    assert client.get("/health?probe=1").status_code == 200  # pages outside /api are not checked


def test_a_third_partys_redirect_may_carry_its_own_parameters(user_client):
    # Spotify's OAuth redirect: parameters of its own are not refused (the state is, as forged).
    r = user_client.get("/api/spotify/callback?code=x&state=forged&iss=https://accounts.spotify.com",
                        follow_redirects=False)
    assert r.status_code != 422, r.text
