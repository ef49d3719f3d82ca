"""Property-based fuzzing (schemathesis) of the three OpenAPI schemas: no request the schema allows, nor a
few it does not, may answer 5xx. The web app is called as a signed-in admin (Bearer token), the two internal
services with the service token, all in-process (ASGI) against the real test database and Redis.

Bounded and deterministic: a few examples per operation (`derandomize`: the same ones every run), no
shrinking, no example database. Operations are excluded only with a reason (below).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import SERVICE_HEADERS
from tests.web.test_browser_layout import _collection

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))  # per operation and generation mode

# Not fuzzed, and why. Everything else in the three schemas is.
WEB_EXCLUDED = {
    "GET /api/jobs/events": "an event stream open for up to 30 minutes (tested in test_downloads_flow)",
    "POST /api/auth/password": "would change the fuzzing user's password and end its token mid-run",
    "DELETE /api/auth/tokens/{token_id}": "would revoke the fuzzing token itself (id 1) mid-run",
    "DELETE /api/users/{user_id}": "would delete the fuzzing user mid-run",
    "POST /api/admin/backups/{name}/restore": "restores a backup over the test database",
}
SERVICE_EXCLUDED: dict[str, str] = {}

# Request fields that make one example run for minutes (the set builder's time budget and search size):
# clamped to small values so the fuzz stays bounded; their ranges are validated by the request models.
TAME = {"time_budget_s": 0.2, "max_generations": 3, "population": 8, "islands": 1}
SERVICE_EXAMPLES = 5 * EXAMPLES  # the internal services have one operation each (and /health)


def _tame(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (min(v, TAME[k]) if k in TAME and isinstance(v, int | float) and not isinstance(v, bool)
                    else _tame(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_tame(v) for v in value]
    return value


def _fuzz(schema, headers: dict[str, str], excluded: dict[str, str], examples: int = EXAMPLES,
          ) -> tuple[Counter, list[str]]:
    """(how many answers had each status, one line per operation answering 5xx: the request that did it)."""
    from schemathesis.python.asgi import shutdown_lifespans

    try:
        return _fuzz_operations(schema, headers, excluded, examples)
    finally:
        shutdown_lifespans()  # schemathesis started the app's lifespan (process pools): stop it now


def _fuzz_operations(schema, headers: dict[str, str], excluded: dict[str, str], examples: int,
                     ) -> tuple[Counter, list[str]]:
    bounded = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                       phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    failures: list[str] = []
    statuses: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        if name in excluded:
            continue
        statuses["operations"] += 1
        seen: set[str] = set()

        strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
        try:
            strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
        except Exception:  # noqa: BLE001 - some operations have nothing to break (no parameters)
            pass

        @bounded
        @given(case=st.one_of(*strategies))
        def run(case) -> None:
            if case.body is not None and not isinstance(case.body, bytes | str):
                case.body = _tame(case.body)
            try:
                response = case.call(headers=headers, timeout=60)
            except Exception as exc:  # noqa: BLE001 - the in-process app raised: its answer was a 500
                status, text = 500, f"{type(exc).__name__}: {exc}"
            else:
                status, text = response.status_code, response.text
            statuses[status] += 1
            if status == 401:
                statuses[f"401 {name}"] += 1
            # 503 is the designed answer when a dependency is down (the set builder service is not running
            # here); any other 5xx, or an exception out of the app, is a bug.
            if status >= 500 and status != 503 and name not in seen:
                seen.add(name)
                failures.append(f"{name} -> {status}: {case.as_curl_command()}\n    {text[:300]}")

        run()
    print(f"fuzzed: {dict(statuses)}")  # shown with -s or on failure
    return statuses, failures


def unauthorized_operations(statuses: Counter) -> set[str]:
    return {str(key).removeprefix("401 ") for key in statuses if str(key).startswith("401 ")}


@pytest.fixture
def fuzz_token(make_user) -> str:
    admin = make_user("fuzzer", is_admin=True)
    _collection(admin.user_id)  # a library, album, tracks and a playlist, so some generated ids exist
    r = admin.post("/api/auth/tokens", json={"name": "fuzz"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def test_web_api_answers_no_5xx(app, fuzz_token):
    bearer = {"Authorization": f"Bearer {fuzz_token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=bearer)
    statuses, failures = _fuzz(schema, bearer, WEB_EXCLUDED)
    assert statuses["operations"] > 80
    assert statuses[200] + statuses[201] + statuses[204] > 40, statuses  # signed in: much succeeds
    assert unauthorized_operations(statuses) <= {"POST /api/auth/login"}, statuses  # wrong passwords only
    assert failures == [], "\n".join(failures)


def test_set_builder_service_answers_no_5xx(servers):
    from services.ga_service.app import create_app

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(workers=1), headers=SERVICE_HEADERS)
    statuses, failures = _fuzz(schema, SERVICE_HEADERS, SERVICE_EXCLUDED, SERVICE_EXAMPLES)
    assert statuses["operations"] >= 2 and not unauthorized_operations(statuses), statuses
    assert failures == [], "\n".join(failures)


def test_analysis_service_answers_no_5xx(servers, tmp_path):
    from services.common.settings import Settings
    from services.essentia_api.app import create_app

    settings_ = Settings(AUDIO_DIR=str(tmp_path), ANALYSIS_WORKERS=1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings=settings_), headers=SERVICE_HEADERS)
    statuses, failures = _fuzz(schema, SERVICE_HEADERS, SERVICE_EXCLUDED, SERVICE_EXAMPLES)
    assert statuses["operations"] >= 2 and not unauthorized_operations(statuses), statuses
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("path", ["/api/playlists/import", "/api/tracks/1/audio"])
def test_malformed_multipart_is_a_client_error(make_user, path):
    """Found by the fuzzer: a CR inside a part's header made the streamed upload parser raise (500)."""
    user = make_user("dj")
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\rb.m3u"\r\n\r\nx\r\n--b--\r\n'
    r = user.post(path, content=body, headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_upload", r.text
    assert "multipart" in r.json()["detail"]
