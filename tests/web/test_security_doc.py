"""docs/security.md is generated from the apps (scripts/gen_security_doc.py) and must be up to date; what it
says about who may call a route is checked against the app."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Lists in request bodies without a maxItems cap, each with why it is tolerated (none may be added).
KNOWN_UNCAPPED: set[tuple[str, str, str]] = set()


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_security_doc", ROOT / "scripts" / "gen_security_doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_security_doc_is_up_to_date(gen):
    assert gen.DOC.read_text() == gen.render(), (
        "docs/security.md is out of date: run `python scripts/gen_security_doc.py`")


def test_every_route_is_in_the_doc(gen):
    from services.web.app import create_app

    doc = gen.DOC.read_text()
    paths = {path for path, _route in gen._walk(create_app().routes)}
    assert len(paths) > 50
    for path in paths:
        assert f"| `{path}` |" in doc, path
    for path in ("/analyze", "/generate"):  # the two internal services
        assert re.search(rf"\| POST \| `{path}` \| service token \|", doc), path


def test_who_is_read_from_the_dependencies(gen):
    by_route = {(r.methods, r.path): r for r in gen.web_routes()}
    assert by_route[("GET", "/health")].who == "anonymous"
    assert by_route[("POST", "/api/auth/login")].who == "anonymous"
    assert by_route[("GET", "/api/auth/me")].who == "user"
    assert by_route[("POST", "/api/users")].who == "admin"
    assert by_route[("GET", "/docs")].who == "user"
    assert by_route[("GET", "/api/playlists/{playlist_id}")].scope == "`playlist_id`"
    anonymous = {r.path for r in by_route.values() if r.who == "anonymous"}
    assert anonymous == set(gen.ANONYMOUS)


def test_admin_routes_refuse_other_users(gen, make_user):
    """What the doc says is what happens: a signed-in non-admin gets 403 from every admin route."""
    user = make_user("plain")
    checked = 0
    for route in gen.web_routes():
        if route.who != "admin":
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods.split(", "):
            r = user.request(method, concrete, headers={"accept": "application/json"})
            assert r.status_code == 403, f"{method} {route.path}: {r.status_code}"
            checked += 1
    assert checked >= 5


def test_request_lists_are_capped(gen):
    from services.web.app import create_app

    openapi = create_app().openapi()
    components = openapi["components"]["schemas"]
    uncapped = set()
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            for content in op.get("requestBody", {}).get("content", {}).values():
                for field in _uncapped(content.get("schema", {}), components, "", frozenset()):
                    uncapped.add((method.upper(), path, field))
    assert uncapped <= KNOWN_UNCAPPED, sorted(uncapped - KNOWN_UNCAPPED)
    assert gen.list_caps(openapi), "the doc lists the caps"


def _uncapped(schema: dict, components: dict, prefix: str, seen: frozenset) -> list[str]:
    ref = schema.get("$ref")
    if ref in seen:
        return []
    seen = seen | {ref} if ref else seen
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    found = []
    for alternative in schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", []):
        found += _uncapped(alternative, components, prefix, seen)
    if schema.get("type") == "array":
        if "maxItems" not in schema:
            found.append(prefix or "body")
        found += _uncapped(schema.get("items", {}), components, f"{prefix}[]", seen)
    for name, sub in schema.get("properties", {}).items():
        found += _uncapped(sub, components, f"{prefix}.{name}" if prefix else name, seen)
    return found
