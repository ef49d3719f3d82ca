"""The shape of the code, checked on every run so it stays:

* a service package (web, essentia_api, ga_service, download_worker) never imports another one;
* the shared packages (common, domain) and the CLI import no service package, and common not the domain;
* FastAPI/Starlette only at the HTTP edges: the web app, the two services' app.py, common/http.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "services"
SERVICE_PACKAGES = {"web", "essentia_api", "ga_service", "download_worker"}
HTTP_FRAMEWORKS = {"fastapi", "starlette"}
HTTP_EDGES = ("web/", "essentia_api/app.py", "ga_service/app.py", "common/http.py")


def imported_modules(source: str) -> set[str]:
    """Absolute module names a module imports (`from a.b import c` counts as a.b and a.b.c)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(relative: str, source: str) -> list[str]:
    """What is wrong with the imports of services/<relative>."""
    owner = relative.split("/", 1)[0].removesuffix(".py")
    found = []
    for name in sorted(imported_modules(source)):
        parts = name.split(".")
        if parts[0] in HTTP_FRAMEWORKS and not relative.startswith(HTTP_EDGES):
            found.append(f"{relative} imports {name}: the HTTP framework belongs to the edges {HTTP_EDGES}")
        if parts[0] != "services" or len(parts) < 2:
            continue
        target = parts[1]
        if target in SERVICE_PACKAGES and target != owner:
            found.append(f"{relative} imports {name}: only services.common and services.domain are shared")
        if owner == "common" and target == "domain":
            found.append(f"{relative} imports {name}: common is below the domain, not beside it")
    return found


def test_the_checker_flags_what_it_should():
    assert violations("domain/x.py", "from fastapi import HTTPException") != []
    assert violations("download_worker/__main__.py", "from services.web.app import create_app") != []
    assert violations("web/ui/x.py", "import services.ga_service.service") != []
    assert violations("common/x.py", "from services.domain import errors") != []
    assert violations("cli.py", "from services.web.api import deps") != []
    assert violations("web/api/x.py", "from fastapi import APIRouter\nfrom services.domain import jobs") == []
    assert violations("essentia_api/app.py", "from starlette.datastructures import UploadFile") == []
    assert violations("essentia_api/pool.py", "from starlette.datastructures import UploadFile") != []


def test_services_keep_their_shape():
    files = sorted(p for p in SERVICES.rglob("*.py") if "static" not in p.parts)
    assert len(files) > 50
    found = []
    for path in files:
        found += violations(path.relative_to(SERVICES).as_posix(), path.read_text())
    assert found == []
