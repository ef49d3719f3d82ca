"""The request's database session: committed before the client hears the answer."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from services.web.api.deps import SessionDep


def _app(record: list[str]) -> FastAPI:
    app = FastAPI()

    @app.post("/write")
    def write(session: SessionDep) -> dict:
        session.execute(text("SELECT 1"))

        @event.listens_for(session, "before_commit")
        def refuse(_session) -> None:
            record.append("commit tried")
            raise RuntimeError("the database refused the commit")

        return {"ok": True}

    return app


def test_a_commit_that_fails_is_an_error_to_the_client_not_a_success(clean_db) -> None:
    record: list[str] = []
    with TestClient(_app(record), raise_server_exceptions=False) as client:
        answer = client.post("/write")
    assert record == ["commit tried"]
    # With FastAPI's default dependency scope the commit ran after the 200 had been sent.
    assert answer.status_code == 500
