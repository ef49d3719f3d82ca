"""The fake OpenAI (tests/fakes/openai_server.py) plus `POST /v1/embeddings`, in the real API's shapes.

A request must carry the key (else 401), `model` and `input` (a string or a non-empty list of non-empty
strings, else 400); `dimensions` (optional) must be 1..1536 for the text-embedding-3 models. The answer is a
`list` of `embedding` objects (`index`, `embedding`) — floats, or base64 little-endian float32 when
`encoding_format` is "base64", as the real API does — plus `model` and `usage`.

The vectors are deterministic and meaningful enough for tests: a hashed bag of words (each lower-cased word
adds to a few dimensions), L2-normalized, so texts sharing words are closer than unrelated ones.

Faults (`fault(EMBEDDINGS, ...)`): every kind of the base fake ("429:<retry-after>", "500", "503",
"malformed", "html", "hang:<s>", ...), plus content faults "vectors:short" (one number too few per vector)
and "vectors:missing" (one vector fewer than inputs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.catalogs import SeenRequest
from tests.fakes.openai_server import FakeOpenAI

EMBEDDINGS = "/v1/embeddings"
MAX_DIMENSIONS = 1536


def fake_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        for i in range(3):
            slot = int.from_bytes(digest[4 * i:4 * i + 4], "little") % dimensions
            vector[slot] += 1.0 if digest[20 + i] & 1 else -1.0
    vector[0] += 0.01  # never all zero
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


class FakeOpenAIEmbeddings(FakeOpenAI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embedding_bodies: list[dict[str, Any]] = []
        self._vector_fault: str | None = None

    def embeddings_seen(self) -> list[SeenRequest]:
        return self.seen(EMBEDDINGS)

    def scripted(self, h: BaseHTTPRequestHandler, kind: str, arg: str) -> bool:
        if kind == "vectors":
            self._vector_fault = arg
            return False
        return super().scripted(h, kind, arg)

    def handle(self, h: BaseHTTPRequestHandler, seen: SeenRequest) -> None:
        if seen.path != EMBEDDINGS:
            super().handle(h, seen)
            return
        fault, self._vector_fault = self._vector_fault, None
        if seen.method != "POST":
            self.json(h, 404, self.error_body(404, f"Invalid URL ({seen.method} {seen.path})"))
            return
        if seen.headers.get("authorization", "") != f"Bearer {self.api_key}":
            self.json(h, 401, self.error_body(401, "Incorrect API key provided."))
            return
        try:
            body = json.loads(seen.body or b"{}")
        except ValueError:
            self.json(h, 400, self.error_body(400, "We could not parse the JSON body of your request."))
            return
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        dimensions = body.get("dimensions", MAX_DIMENSIONS)
        if not isinstance(body.get("model"), str) or not body["model"]:
            problem = "you must provide a model parameter"
        elif not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
            problem = "'input' : input must be a non-empty string or a list of non-empty strings"
        elif not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
            problem = "Invalid value for 'dimensions'."
        else:
            problem = None
        if problem:
            self.json(h, 400, self.error_body(400, problem))
            return
        with self._lock:
            self.embedding_bodies.append(body)
        size = dimensions - 1 if fault == "short" else dimensions
        vectors = [fake_vector(text, dimensions)[:size] for text in inputs]
        if fault == "missing":
            vectors = vectors[:-1]
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if as_base64 else v}
                for i, v in enumerate(vectors)]
        tokens = sum(len(t.split()) for t in inputs)
        self.json(h, 200, {"object": "list", "data": data, "model": body["model"],
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
