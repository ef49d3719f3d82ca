"""`python -m services.web` hands uvicorn the serving settings (workers, address, access log)."""

from __future__ import annotations

import pytest

from services.web import __main__ as web_main


@pytest.fixture
def served(monkeypatch, servers) -> dict:
    """main() up to uvicorn.run, whose arguments are recorded instead of serving."""
    calls: dict = {}
    monkeypatch.setattr(web_main, "prepare", lambda: None)  # migrations and the first admin: tested elsewhere
    monkeypatch.setattr(web_main.uvicorn, "run", lambda app, **kwargs: calls.update(app=app, **kwargs))
    return calls


def test_access_log_follows_the_setting(served, env_setting):
    env_setting(WEB_ACCESS_LOG="true", WEB_WORKERS="3", WEB_PORT="3999")
    web_main.main()
    assert served["access_log"] is True and served["workers"] == 3 and served["port"] == 3999
    env_setting(WEB_ACCESS_LOG="false")
    web_main.main()
    assert served["access_log"] is False  # behind a proxy that logs requests: a few percent of CPU back
