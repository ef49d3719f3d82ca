"""A local fake of the OpenAI API for the `openai` client pointed at it with `base_url=<fake>/v1`.

Speaks `POST /v1/chat/completions` with the real shapes: the request must carry `Authorization: Bearer <key>`
(else 401 with OpenAI's error body, which — worse than the real API — echoes the key it got, so tests can
check it never reaches our logs or messages), `model`, `messages` and, as our client always asks,
`response_format: {"type": "json_schema", "json_schema": {"name", "strict": true, "schema"}}` (else 400).
The answer is a `chat.completion` object whose `choices[0].message.content` is the JSON text.

What the model "says": `reply(obj)` queues the next answers (a dict is sent as JSON text, a str as is);
without one, a default answer built from the request (suggestions for every `ref` in the tracks JSON, or
`{"q": <the text>}` with every other search field null).

Scripted faults (a queue per path, as in tests.fakes.catalogs): "429:<retry-after>", "500", "502", "503",
"401", "hang:<seconds>" (then the normal answer, for client timeouts), "malformed" (a truncated JSON body),
"html"; content faults: "content:notjson" (prose instead of JSON), "content:schema" (JSON not matching the
schema), "refusal" (the model declines), "length" (cut off).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.catalogs import FakeCatalogServer, SeenRequest

COMPLETIONS = "/v1/chat/completions"
DEFAULT_KEY = "sk-test-FAKE0123456789abcdefSECRETKEY"


class FakeOpenAI(FakeCatalogServer):
    def __init__(self, *, api_key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.replies: deque[Any] = deque()
        self.bodies: list[dict[str, Any]] = []  # every well-formed chat.completions request body
        self._content_fault: str | None = None

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def reply(self, *answers: Any) -> None:
        with self._lock:
            self.replies.extend(answers)

    def completions_seen(self) -> list[SeenRequest]:
        return self.seen(COMPLETIONS)

    # -- errors in OpenAI's shape ----------------------------------------------------------------------
    def error_body(self, status: int, message: str) -> Any:
        kinds = {401: ("invalid_request_error", "invalid_api_key"), 429: ("requests", "rate_limit_exceeded"),
                 400: ("invalid_request_error", None), 404: ("invalid_request_error", None)}
        kind, code = kinds.get(status, ("server_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def scripted(self, h: BaseHTTPRequestHandler, kind: str, arg: str) -> bool:
        if kind == "429":
            headers = {"Retry-After": arg} if arg else {}
            self.json(h, 429, self.error_body(429, "Rate limit reached for requests. Please try again later."),
                      headers={**headers, "x-request-id": _request_id()})
            return True
        if kind in ("content", "refusal", "length"):
            self._content_fault = f"{kind}:{arg}" if arg else kind
            return False  # answered by handle() with the fault applied to the content
        return super().scripted(h, kind, arg)

    # -- the endpoint ----------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        fault, self._content_fault = self._content_fault, None
        if seen.method != "POST" or seen.path != COMPLETIONS:
            self.json(h, 404, self.error_body(404, f"Invalid URL ({seen.method} {seen.path})"))
            return
        auth = seen.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            got = auth.removeprefix("Bearer ")
            self.json(h, 401, self.error_body(401, f"Incorrect API key provided: {got}. You can find your API key "
                                                   "at https://platform.openai.com/account/api-keys."))
            return
        try:
            body = json.loads(seen.body or b"{}")
        except ValueError:
            self.json(h, 400, self.error_body(400, "We could not parse the JSON body of your request."))
            return
        problem = _check_request(body)
        if problem:
            self.json(h, 400, self.error_body(400, problem))
            return
        with self._lock:
            self.bodies.append(body)
            queued = self.replies.popleft() if self.replies else None
        answer = queued if queued is not None else _default_answer(body)
        content: str | None = answer if isinstance(answer, str) else json.dumps(answer)
        refusal, finish = None, "stop"
        if fault == "content:notjson":
            content = "Sure! Here are some genres: House, Techno. Hope that helps."
        elif fault == "content:schema":
            content = json.dumps({"tracks": [{"ref": "1", "genre": "House"}]}
                                 if "tracks" in _schema_of(body).get("properties", {}) else {"bpm": "fast"})
        elif fault == "refusal":
            content, refusal = None, "I'm sorry, I can't help with that request."
        elif fault == "length":
            content, finish = (content or "")[: max(1, len(content or "") // 2)], "length"
        self.json(h, 200, _completion(body, content, refusal, finish), headers={"x-request-id": _request_id()})


def _request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


def _schema_of(body: dict[str, Any]) -> dict[str, Any]:
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}


def _check_request(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and m.get("role") in ("system", "developer", "user", "assistant")
            and isinstance(m.get("content"), str) for m in messages):
        return "Invalid value for 'messages'."
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return "Invalid parameter: 'response_format' must be json_schema here."
    spec = fmt.get("json_schema") or {}
    if not isinstance(spec.get("name"), str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", spec["name"]):
        return "Invalid 'response_format.json_schema.name'."
    if spec.get("strict") is not True:
        return "This fake expects strict structured outputs."
    problem = _strict_problem(spec.get("schema"), "schema")
    return f"Invalid schema for response_format '{spec['name']}': {problem}" if problem else None


def _strict_problem(schema: Any, where: str) -> str | None:
    """What strict mode would refuse: objects must list every property as required, no additional ones."""
    if not isinstance(schema, dict):
        return f"{where} is not an object"
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "object" in types:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"In context={where}, 'additionalProperties' is required to be supplied and to be false."
        if set(schema.get("required") or []) != set(props):
            return f"In context={where}, 'required' is required to be supplied and to be an array including " \
                   "every key in properties."
        for name, sub in props.items():
            problem = _strict_problem(sub, f"{where}.{name}")
            if problem:
                return problem
    if "array" in types:
        return _strict_problem(schema.get("items"), f"{where}[]")
    return None


def _default_answer(body: dict[str, Any]) -> dict[str, Any]:
    schema = _schema_of(body)
    user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    if "tracks" in schema.get("properties", {}):
        refs = re.findall(r'"ref":\s*"([^"]+)"', user)
        return {"tracks": [{"ref": ref, "genres": ["Electronic"], "styles": ["Deep House"], "moods": ["warm"],
                            "note": "Rolling groove for the first hour."} for ref in refs]}
    out: dict[str, Any] = {}
    for name, sub in schema.get("properties", {}).items():
        kind = sub.get("type")
        out[name] = [] if kind == "array" else False if kind == "boolean" else None
    out["q"] = user
    return out


def _completion(body: dict[str, Any], content: str | None, refusal: str | None, finish: str) -> dict[str, Any]:
    prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
    completion_tokens = len((content or refusal or "").split())
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }


OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_TIMEOUT_SECONDS", "OPENAI_MAX_RETRIES")


def point_settings_at(fake: FakeOpenAI | None, monkeypatch) -> None:
    """Settings for the fake (short timeout, two retries), or with `None` no OpenAI settings at all."""
    from services.common.settings import get_settings

    for name in OPENAI_ENV:
        monkeypatch.delenv(name, raising=False)
    if fake is not None:
        for name, value in {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.v1, "OPENAI_MODEL": "gpt-test-mini",
                            "OPENAI_TIMEOUT_SECONDS": "0.5", "OPENAI_MAX_RETRIES": "2"}.items():
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
