"""The error envelope and request ids every HTTP service shares (services/common/http.py)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from services.common.http import REQUEST_ID_HEADER, install_error_handling


class Body(BaseModel):
    count: int = Field(ge=1)


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handling(app, log=logging.getLogger("test.http"))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/teapot")
    def teapot():
        raise HTTPException(409, "already brewing")

    @app.post("/count")
    def count(body: Body):
        return {"count": body.count}

    return TestClient(app, raise_server_exceptions=False)


def test_unexpected_error_is_logged_with_the_request_id_it_answers(client, caplog):
    with caplog.at_level(logging.ERROR, logger="test.http"):
        r = client.get("/boom", headers={REQUEST_ID_HEADER: "req-42"})
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "internal_error" and body["request_id"] == "req-42"
    assert "req-42" in body["detail"] and "secret" not in body["detail"]
    assert r.headers[REQUEST_ID_HEADER] == "req-42"
    logged = [rec for rec in caplog.records if "req-42" in rec.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log, not the answer


def test_request_ids_are_made_when_missing_or_unsafe(client):
    made = client.get("/teapot").headers[REQUEST_ID_HEADER]
    assert len(made) == 32
    unsafe = client.get("/teapot", headers={REQUEST_ID_HEADER: "bad id\nX-Injected: 1"}).headers[REQUEST_ID_HEADER]
    assert unsafe != "bad id\nX-Injected: 1" and len(unsafe) == 32


def test_http_and_validation_errors_share_the_envelope(client):
    r = client.get("/teapot")
    assert r.status_code == 409 and r.json() == {"detail": "already brewing", "code": "conflict"}
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.post("/count", json={"count": 0})
    body = r.json()
    assert r.status_code == 422 and body["code"] == "invalid"
    assert "count" in body["detail"] and body["errors"][0]["loc"] == ["body", "count"]
    assert "input" not in body["errors"][0]  # what the client sent is not echoed back
