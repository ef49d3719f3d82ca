"""Route order: the app lists its most requested reads first (services/web/app.py). That may only change how
fast a request finds its route, never which route answers: the few paths two routes can both answer are
listed here, and the literal route must come first."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from starlette.routing import compile_path

ROOT = Path(__file__).resolve().parents[2]
# (method, path) that two routes match; the first named must answer.
SHADOWED = {
    ("GET", "/api/jobs/events"): ("/api/jobs/events", "/api/jobs/{job_id}"),
    ("GET", "/api/tracks/search"): ("/api/tracks/search", "/api/tracks/{track_pk}"),
    ("GET", "/playlists/options"): ("/playlists/options", "/playlists/{playlist_id}"),
}


def _walk():
    spec = importlib.util.spec_from_file_location("gen_security_doc_routes", ROOT / "scripts" / "gen_security_doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    from services.web.app import create_app

    return list(module._walk(create_app().routes))


def test_only_known_paths_depend_on_route_order_and_the_literal_route_wins():
    routes = [(path, compile_path(path)[0], getattr(route, "methods", None)) for path, route in _walk()]
    # Every route's path with its parameters filled by values that could collide with a literal segment.
    samples = {(method, re.sub(r"\{[^}]+\}", fill, path))
               for path, _regex, methods in routes for method in (methods or {"GET"})
               for fill in ("1", "x", "search", "events", "options", "new")}
    answering = {}
    for method, path in samples:
        matched = [p for p, regex, methods in routes if regex.match(path) and (methods is None or method in methods)]
        if len(matched) > 1:
            answering[(method, path)] = tuple(matched)
    assert answering == SHADOWED
