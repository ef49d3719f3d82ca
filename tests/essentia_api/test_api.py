"""The HTTP app end to end (fastapi TestClient, real process pool, real Essentia)."""

from __future__ import annotations

import pytest

from services.common.camelot import key_to_camelot
from services.common.contracts.analysis import AnalysisResult
from tests.conftest import SERVICE_HEADERS
from tests.essentia_api.conftest import DNB, FORMATS, HOUSE


def test_health_reports_essentia_and_pool(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["essentia_version"].startswith("2.")
    assert body["pool"]["workers"] == 2 and body["pool"]["started"] is True
    assert body["mood_model"] == "musicnn-msd"


def test_house_contract_and_values(house_result):
    res = AnalysisResult.model_validate(house_result)
    assert abs(res.bpm - HOUSE.bpm) / HOUSE.bpm < 0.01
    assert res.bpm == round(res.bpm, 2)
    assert 0 <= res.bpm_confidence <= 1
    assert (res.key, res.scale) == ("A", "minor")
    assert res.camelot == "8A" == str(key_to_camelot(res.key, res.scale))
    assert res.open_key == "1m"
    # Constant beat grid: spacing 60/bpm, first beat within one beat of the start, covers the clip.
    gaps = [b - a for a, b in zip(res.beats, res.beats[1:])]
    assert all(abs(g - 60 / res.bpm) < 0.01 for g in gaps)
    assert 0 <= res.first_beat < 60 / res.bpm + 0.01 and res.beats[0] == res.first_beat
    assert res.beats[-1] > HOUSE.seconds - 1.0
    # The kick lands every beat: the grid must sit on the kicks (synth starts a kick at t=0).
    assert min(res.first_beat % (60 / HOUSE.bpm), 60 / HOUSE.bpm - res.first_beat % (60 / HOUSE.bpm)) < 0.03
    assert 0 <= res.danceability <= 1 and res.danceability_raw > 0
    assert 1 <= res.energy <= 10
    assert res.energy_features.bpm == res.bpm
    assert -30 < res.loudness_lufs < -5 and res.loudness_range_lu >= 0
    assert res.duration_seconds == pytest.approx(HOUSE.seconds, abs=0.05)
    assert res.sample_rate == 44100 and res.channels == 2
    assert res.mood_model == "musicnn-msd"
    assert set(res.moods.model_dump()) == {"happy", "sad", "aggressive", "relaxed", "party"}
    wf = res.waveform
    assert len(wf.peaks) == len(wf.low) == len(wf.mid) == len(wf.high) == round(HOUSE.seconds * 4)
    assert max(wf.peaks) == pytest.approx(1.0) and min(wf.peaks) >= 0
    assert res.analyzer_version


def _full_rate_lufs(path) -> float:
    from services.essentia_api.analysis import ess

    es = ess()
    return float(es.LoudnessEBUR128(sampleRate=44100)(es.AudioLoader(filename=str(path))()[0])[2])


def test_loudness_matches_full_rate_meter(audio_dir, house_result):
    # Our meter runs on ~11 kHz stereo for speed plus a measured high-frequency correction; it must
    # agree with Essentia's meter at 44.1 kHz.
    assert house_result["loudness_lufs"] == pytest.approx(_full_rate_lufs(audio_dir / "house.wav"), abs=0.3)


def test_loudness_correction_on_bright_material(client, audio_dir, tmp_path):
    # White noise puts most K-weighted energy above 5.5 kHz: without the correction the decimated
    # meter reads ~3.5 LU low.
    import numpy as np

    from tests.essentia_api.audio_fixtures import synth_clip, write_wav

    rng = np.random.default_rng(5)
    x = 0.5 * synth_clip(HOUSE, stereo=True) + 0.05 * rng.standard_normal((int(HOUSE.seconds * 44100), 2))
    path = write_wav(audio_dir / "bright.wav", np.clip(x, -1, 1).astype(np.float32))
    res = client.post("/analyze", json={"path": "bright.wav"}).json()
    assert res["loudness_lufs"] == pytest.approx(_full_rate_lufs(path), abs=0.3)


def test_drum_and_bass_is_not_read_at_half_time(client):
    res = client.post("/analyze", json={"path": "dnb.wav"}).json()
    assert abs(res["bpm"] - DNB.bpm) / DNB.bpm < 0.01
    assert (res["key"], res["scale"], res["camelot"]) == ("F#", "major", "2B")
    assert res["bpm_alternative"]["bpm"] == pytest.approx(DNB.bpm / 2, rel=0.01)


def test_upload_equals_path_analysis(client, audio_dir, house_result):
    data = (audio_dir / "house.wav").read_bytes()
    r = client.post("/analyze", files={"file": ("my track.wav", data, "audio/wav")})
    assert r.status_code == 200, r.text
    up = r.json()
    for field in ("bpm", "key", "scale", "camelot", "loudness_lufs", "energy", "beats"):
        assert up[field] == house_result[field]


def test_path_in_subfolder_with_spaces(client, house_result):
    r = client.post("/analyze", json={"path": "sub/house copy.wav"})
    assert r.status_code == 200 and r.json()["bpm"] == house_result["bpm"]


def test_path_as_form_field(client, house_result):
    r = client.post("/analyze", data={"path": "house.wav"}, files={"unused": ("x", b"")})
    assert r.status_code == 200 and r.json()["camelot"] == house_result["camelot"]


@pytest.mark.parametrize("ext", FORMATS)
def test_formats(client, ext):
    r = client.post("/analyze", json={"path": f"short{ext}"})
    assert r.status_code == 200, r.text
    res = r.json()
    assert abs(res["bpm"] - 120) < 1.5
    assert res["duration_seconds"] == pytest.approx(8.0, abs=0.15)
    assert res["camelot"] == "8B"  # C major


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("../../etc/passwd", 400, "bad_request"),
        ("/etc/passwd", 400, "bad_request"),
        ("https://example.com/track.mp3", 400, "bad_request"),
        ("sub/../../outside.wav", 400, "bad_request"),
        ("missing.wav", 404, "not_found"),
        ("a" * 300 + ".wav", 400, "bad_request"),  # name too long: OSError in the path check
        ("x/" * 3000 + "y.wav", 400, "bad_request"),
        ("corrupt.mp3", 422, "unreadable_audio"),
        ("empty.flac", 422, None),
        ("silent.wav", 422, "silent_audio"),
        ("tiny.wav", 422, "too_short"),
    ],
)
def test_bad_paths_and_files_are_4xx(client, path, status, code):
    r = client.post("/analyze", json={"path": path})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["detail"] and "error" not in body
    if code:
        assert body["code"] == code


def test_symlink_out_of_audio_dir_is_400(client, audio_dir, tmp_path):
    outside = tmp_path / "outside.wav"
    outside.write_bytes((audio_dir / "house.wav").read_bytes())
    link = audio_dir / "link.wav"
    link.symlink_to(outside)
    try:
        assert client.post("/analyze", json={"path": "link.wav"}).status_code == 400
    finally:
        link.unlink()


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("empty.mp3", b"", 422),
        ("noise.mp3", b"\xff\xfb" + b"\x00garbage" * 500, 422),
        ("virus.exe", b"MZ" + b"\x00" * 100, 415),
        ("big.wav", b"\x00" * (6 << 20), 413),
    ],
)
def test_bad_uploads_are_4xx(client, name, data, status):
    r = client.post("/analyze", files={"file": (name, data)})
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail", "code"}


def test_openapi_documents_contract_and_both_request_forms(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/analyze"]["post"]
    assert set(op["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "AnalysisResult" in spec["components"]["schemas"]
    assert "422" in op["responses"] and "504" in op["responses"]


def test_request_without_file_or_path_is_400(client):
    assert client.post("/analyze", json={"nope": 1}).status_code == 400
    assert client.post("/analyze", content=b"raw", headers={"content-type": "audio/wav"}).status_code == 400


def test_server_still_healthy_after_errors(client):
    for _ in range(2):
        client.post("/analyze", json={"path": "corrupt.mp3"})
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["pool"]["failed"] >= 2
    assert client.post("/analyze", json={"path": "short.flac"}).status_code == 200


def test_symlink_loop_and_unencodable_path_are_400(client, audio_dir):
    loop = audio_dir / "loop.wav"
    loop.symlink_to("loop.wav")
    try:
        r = client.post("/analyze", json={"path": "loop.wav"})
        assert r.status_code == 400 and r.json()["code"] == "bad_request"
    finally:
        loop.unlink()
    r = client.post(
        "/analyze", content=b'{"path": "\\ud800.wav"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["code"] == "bad_request"


def test_malformed_multipart_is_400_with_code(client):
    r = client.post("/analyze", content=b"abc", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and set(r.json()) == {"detail", "code"}
    r = client.post("/analyze", files=[("file", ("a.wav", b"1")), ("file", ("b.wav", b"2"))])
    assert r.status_code == 400 and set(r.json()) == {"detail", "code"}


def test_analyze_needs_the_service_token(settings):
    from fastapi.testclient import TestClient

    from services.essentia_api.app import create_app

    anonymous = TestClient(create_app(settings=settings))  # no `with`: the pool never starts
    r = anonymous.post("/analyze", json={"path": "x.wav"})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"


def test_audio_longer_than_the_limit_is_413_before_decoding(audio_dir, settings):
    from fastapi.testclient import TestClient

    from services.essentia_api.app import create_app

    short_limit = settings.model_copy(update={"analysis_max_duration_minutes": 0.25})  # 15 s
    with TestClient(create_app(settings=short_limit), headers=SERVICE_HEADERS) as c:
        r = c.post("/analyze", json={"path": "house.wav"})  # 20 s
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "too_long" and "ANALYSIS_MAX_DURATION_MINUTES" in r.json()["detail"]
        with open(audio_dir / "house.wav", "rb") as fh:
            r = c.post("/analyze", files={"file": ("house.wav", fh, "audio/wav")})
        assert r.status_code == 413 and r.json()["code"] == "too_long"
        # Within the limit the same service analyses normally.
        assert c.post("/analyze", json={"path": "short.mp3"}).status_code == 200


def test_duration_limit_is_checked_from_the_header_without_decoding(audio_dir, monkeypatch):
    from services.essentia_api.analysis import loading
    from services.essentia_api.errors import TooLong

    def no_decode(path):
        raise AssertionError("decoded a file that is over the limit")

    monkeypatch.setattr(loading, "_essentia_load", no_decode)
    monkeypatch.setattr(loading, "_sndfile_load", no_decode)
    with pytest.raises(TooLong, match="ANALYSIS_MAX_DURATION_MINUTES"):
        loading.load_audio(path=str(audio_dir / "house.wav"), max_seconds=15.0)


def test_duration_limit_also_applies_after_decoding(audio_dir, monkeypatch):
    from services.essentia_api.analysis import loading
    from services.essentia_api.errors import TooLong

    # A header without a usable duration (e.g. a raw stream) is caught by the decoded length.
    monkeypatch.setattr(loading, "_declared_seconds", lambda path: None)
    with pytest.raises(TooLong):
        loading.load_audio(path=str(audio_dir / "house.wav"), max_seconds=15.0)
    assert loading.load_audio(path=str(audio_dir / "house.wav"), max_seconds=30.0).duration > 19


def test_unexpected_error_is_logged_with_its_request_id(settings, caplog):
    from fastapi.testclient import TestClient

    from services.essentia_api.app import create_app

    class BrokenPool:
        def start(self):
            pass

        def shutdown(self):
            pass

        def state(self):
            return {}

        async def analyze(self, *, path, options):
            raise RuntimeError("bug in the pool")

    app = create_app(settings=settings, pool=BrokenPool())
    broken = TestClient(app, headers=SERVICE_HEADERS, raise_server_exceptions=False)
    with caplog.at_level("ERROR", logger="services.essentia_api.app"):
        r = broken.post("/analyze", json={"path": "house.wav"}, headers={"X-Request-ID": "req-42"})
    assert r.status_code == 500
    assert r.json() == {
        "detail": "internal error (request id req-42)",
        "code": "internal_error",
        "request_id": "req-42",
    }
    assert any("req-42" in rec.getMessage() and rec.exc_info for rec in caplog.records)
    # A browser upload without an extension is accepted (and reaches the pool).
    assert broken.post("/analyze", files={"file": ("recording", b"RIFF")}).status_code == 500
