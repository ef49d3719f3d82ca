"""Mood backend selection (descriptor fallback is honest) and the pool's timeout/recovery."""

from __future__ import annotations

import asyncio
import json
import types

import numpy as np
import pytest

from services.essentia_api.analysis.mood import (
    DESCRIPTOR,
    DescriptorMood,
    MoodInputs,
    MusicnnMood,
    SvmMood,
    TensorflowMood,
    predict_moods,
    select_mood_backend,
)
from services.essentia_api.analysis.pipeline import AnalysisOptions
from services.essentia_api.errors import AnalysisTimeout
from services.essentia_api.pool import AnalysisPool
from tests.conftest import SERVICE_HEADERS

INPUTS = MoodInputs(
    path="x.wav",
    bpm=126,
    scale="major",
    energy_score=0.7,
    danceability=0.8,
    centroid_hz=1500,
    loudness_lufs=-8,
    onset_rate=6,
    flux=0.2,
)


class _NoTF:
    """Stands in for a plain essentia.standard (no TensorFlow, no Gaia)."""


def _fake_tf_essentia(activation: float):
    class Predict:
        def __init__(self, graphFilename, output):
            self.graph = graphFilename

        def __call__(self, audio):
            return np.array([[activation, 1 - activation]] * 3)

    class Loader:
        def __init__(self, **kw):
            pass

        def __call__(self):
            return np.zeros(16000, np.float32)

    return types.SimpleNamespace(TensorflowPredictMusiCNN=Predict, MonoLoader=Loader)


def test_no_models_dir_means_bundled_model_or_descriptor():
    backend, reason = select_mood_backend(models_dir=None, es_module=_NoTF())
    assert isinstance(backend, MusicnnMood) and "not set" in reason and "MusiCNN" in reason
    backend, reason = select_mood_backend(models_dir=None, es_module=_NoTF(), bundled=False)
    assert backend.name == DESCRIPTOR and "MOOD_MODEL=descriptor" in reason


def test_missing_or_empty_dir_means_no_essentia_model(tmp_path):
    for models_dir in (tmp_path / "nope", tmp_path):
        assert isinstance(select_mood_backend(models_dir=models_dir, es_module=_NoTF())[0], MusicnnMood)
        backend = select_mood_backend(models_dir=models_dir, es_module=_NoTF(), bundled=False)[0]
        assert backend.name == DESCRIPTOR


def test_bundled_model_unusable_means_descriptor_and_says_why(monkeypatch, tmp_path):
    from services.essentia_api.analysis import musicnn

    monkeypatch.setattr(musicnn, "MODEL_PATH", tmp_path / "gone.onnx")
    backend, reason = select_mood_backend(models_dir=None, es_module=_NoTF())
    assert backend.name == DESCRIPTOR and "gone.onnx is missing" in reason


def test_tf_models_without_tf_build_fall_back(tmp_path):
    (tmp_path / "mood_happy-musicnn-msd-2.pb").write_bytes(b"graph")
    backend, reason = select_mood_backend(models_dir=tmp_path, es_module=_NoTF(), bundled=False)
    assert backend.name == DESCRIPTOR and "no TensorFlow support" in reason


def test_svm_models_without_gaia_fall_back(tmp_path):
    (tmp_path / "mood_sad.history").write_bytes(b"svm")
    backend, reason = select_mood_backend(
        models_dir=tmp_path, es_module=types.SimpleNamespace(MusicExtractorSVM=1), bundled=False
    )
    assert backend.name == DESCRIPTOR and "Gaia" in reason
    gaia = types.SimpleNamespace(MusicExtractorSVM=1, GaiaTransform=1)
    assert isinstance(select_mood_backend(models_dir=tmp_path, es_module=gaia)[0], SvmMood)


def test_tf_backend_selected_and_used_when_build_supports_it(tmp_path):
    graph = tmp_path / "mood_happy-musicnn-msd-2.pb"
    graph.write_bytes(b"graph")
    graph.with_suffix(".json").write_text(json.dumps({"classes": ["happy", "non_happy"]}))
    backend, _ = select_mood_backend(models_dir=tmp_path, es_module=_fake_tf_essentia(0.9))
    assert isinstance(backend, TensorflowMood)
    scores, name = predict_moods(backend=backend, inputs=INPUTS)
    assert name.startswith("tensorflow:") and scores["happy"] == pytest.approx(0.9)
    # Moods without a model keep the descriptor estimate.
    assert scores["sad"] == DescriptorMood().predict(inputs=INPUTS)["sad"]


def test_failing_model_degrades_to_descriptor(tmp_path):
    class Broken:
        name = "tensorflow:broken"

        def predict(self, *, inputs):
            raise RuntimeError("bad graph")

    scores, name = predict_moods(backend=Broken(), inputs=INPUTS)
    assert name == DESCRIPTOR and set(scores) == {"happy", "sad", "aggressive", "relaxed", "party"}


def test_descriptor_estimates_order_sensibly():
    calm = MoodInputs(
        path="x",
        bpm=80,
        scale="minor",
        energy_score=0.2,
        danceability=0.3,
        centroid_hz=600,
        loudness_lufs=-20,
        onset_rate=1.5,
        flux=0.06,
    )
    hot, cold = DescriptorMood().predict(inputs=INPUTS), DescriptorMood().predict(inputs=calm)
    assert hot["party"] > cold["party"] and cold["relaxed"] > hot["relaxed"] and cold["sad"] > hot["sad"]
    assert all(0 <= v <= 1 for v in hot.values())


def test_pool_timeout_is_504_and_pool_recovers(audio_dir):
    pool = AnalysisPool(workers=1, timeout_seconds=0.001)

    async def run():
        with pytest.raises(AnalysisTimeout):
            await pool.analyze(path=str(audio_dir / "house.wav"), options=AnalysisOptions())
        pool.timeout_seconds = 120
        return await pool.analyze(path=str(audio_dir / "short.flac"), options=AnalysisOptions())

    try:
        res = asyncio.run(run())
    finally:
        pool.shutdown()
    assert res.camelot == "8B"
    assert pool.state()["timeouts"] == 1 and pool.state()["restarts"] == 1


def test_timeout_elsewhere_does_not_fail_other_requests(audio_dir, tmp_path):
    """One file times out and the pool restarts: the analyses that were running or queued beside it
    are retried on the fresh pool and succeed (they used to fail with a 500)."""
    from tests.essentia_api import pool_helpers

    class HookedPool(AnalysisPool):
        task = staticmethod(pool_helpers.run)

    # Generous on purpose: the retries run on a freshly spawned pool, and on a loaded machine spawning
    # workers and analysing even a short file took longer than a 6 s limit (the test then failed for
    # the wrong reason). Only "hang" can reach this deadline; the 2 s head start keeps it first.
    pool = HookedPool(workers=2, timeout_seconds=20)
    short = str(audio_dir / "short.flac")

    async def run():
        hang = asyncio.create_task(pool.analyze(path=f"hang:{short}", options=AnalysisOptions()))
        await asyncio.sleep(2)  # the others start later, so only "hang" reaches its deadline
        running = asyncio.create_task(
            pool.analyze(path=f"slowonce:{tmp_path / 'marker'}:{short}", options=AnalysisOptions())
        )
        queued = asyncio.create_task(pool.analyze(path=short, options=AnalysisOptions()))
        return await asyncio.gather(hang, running, queued, return_exceptions=True)

    pool.start()
    try:
        hang, running, queued = asyncio.run(run())
    finally:
        pool.shutdown()
    assert isinstance(hang, AnalysisTimeout)
    assert not isinstance(running, BaseException), running
    assert not isinstance(queued, BaseException), queued
    assert running.camelot == queued.camelot == "8B"
    state = pool.state()
    assert state["timeouts"] == 1 and state["restarts"] == 1 and state["retries"] == 2


def test_request_interrupted_twice_is_503_with_retry_after(settings, monkeypatch):
    """If the one retry is also cut short by another restart, the answer is 503 + Retry-After."""
    from fastapi.testclient import TestClient

    from services.essentia_api import pool as pool_mod
    from services.essentia_api.app import create_app

    pool = AnalysisPool(workers=1, timeout_seconds=30)
    calls = []

    async def interrupted(path, options):
        calls.append(path)
        raise pool_mod._Interrupted(caused_here=False)

    monkeypatch.setattr(pool, "_attempt", interrupted)
    monkeypatch.setattr(pool, "start", lambda: None)
    with TestClient(create_app(settings=settings, pool=pool), headers=SERVICE_HEADERS) as c:
        r = c.post("/analyze", json={"path": "short.flac"})
    assert r.status_code == 503
    assert r.json() == {"detail": r.json()["detail"], "code": "pool_restarted"}
    assert int(r.headers["Retry-After"]) > 0
    assert len(calls) == 2  # first try + one transparent retry
