"""Fixtures (a pytest plugin, see tests/conftest.py): the settings pointed at a fake OpenAI, or at none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI, point_settings_at


@pytest.fixture
def fake_openai(monkeypatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        point_settings_at(fake, monkeypatch)
        yield fake
    monkeypatch.undo()  # the environment back first, then forget the settings read from it
    get_settings.cache_clear()


@pytest.fixture
def no_openai(monkeypatch) -> Iterator[None]:
    point_settings_at(None, monkeypatch)
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
