"""Answering with a model the route has already built."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel) -> Response:
    """`model` as JSON, serialized once. Returned as a model, FastAPI would validate it again first, and for
    a sync route do that in the thread pool: one more thread hop per request. The route's `response_model`
    still documents the answer in OpenAPI."""
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")
