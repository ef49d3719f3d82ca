"""Audio upload -> analysis job in a real worker -> real analysis service -> stored on the track."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common import db
from services.common.models import Library, Track
from services.common.settings import get_settings
from tests.conftest import free_port
from tests.essentia_api.audio_fixtures import ClipSpec, synth_clip, wav_bytes

ROOT = Path(__file__).resolve().parents[2]


def _wait_http(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer")


@pytest.fixture(scope="module")
def analysis_stack(servers):
    """The analysis service and one worker on the analysis queue, as plain processes."""
    port = free_port()
    env = {**os.environ, **servers, "ESSENTIA_PORT": str(port), "ANALYSIS_WORKERS": "1",
           "ESSENTIA_API_URL": f"http://127.0.0.1:{port}"}
    essentia = subprocess.Popen([sys.executable, "-m", "services.essentia_api"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-m", "services.download_worker", "analysis"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", essentia)
        yield env["ESSENTIA_API_URL"]
    finally:
        for proc in (worker, essentia):
            proc.terminate()
        for proc in (worker, essentia):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)


def _track(owner_id: int, *, friend: bool = False) -> int:
    with db.session_scope() as s:
        lib = Library(owner_id=owner_id, name="Crates", discogs_username="crates" + ("f" if friend else ""),
                      is_friend=friend)
        s.add(lib)
        s.flush()
        t = Track(track_id="42-A1", library_id=lib.id, title="Synth groove", artist="Test", duration_seconds=400.0)
        s.add(t)
        s.flush()
        return t.id


def _wait_job(client, job_id: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(f"/api/analysis/jobs/{job_id}").json()
        if state["status"] in ("finished", "failed"):
            return state
        time.sleep(0.3)
    pytest.fail("analysis job did not finish")


# A crash marks each 4-bar phrase, so the track page draws phrase markers.
GROOVE = wav_bytes(
    synth_clip(ClipSpec(bpm=124.0, tonic=9, scale="minor", seconds=20.0, style="house", seed=3, phrase_crash=True))
)


TINY_WAV = wav_bytes(synth_clip(ClipSpec(bpm=120.0, tonic=0, scale="major", seconds=2.0, seed=1)))


def _mp3(wav: bytes) -> bytes:
    done = subprocess.run(["ffmpeg", "-v", "error", "-f", "wav", "-i", "pipe:0", "-f", "mp3", "pipe:1"],
                          input=wav, capture_output=True, check=True)
    return done.stdout


SHORT_MP3 = _mp3(TINY_WAV)


def test_upload_analyse_store_and_reanalyse(make_user, analysis_stack):
    alice = make_user("alice")
    pk = _track(alice.user_id)
    up = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("groove.wav", GROOVE, "audio/wav")})
    assert up.status_code == 201, up.text
    rel = up.json()["local_audio_path"]
    assert rel.startswith("library_") and (get_settings().resolved_audio_dir / rel).is_file()

    r = alice.post(f"/api/tracks/{pk}/analyze")
    assert r.status_code == 202
    state = _wait_job(alice, r.json()["job_id"])
    assert state["status"] == "finished", state
    assert state["percent"] == 100

    track = alice.get(f"/api/tracks/{pk}").json()
    assert track["bpm"] == pytest.approx(124.0, rel=0.02)
    assert track["camelot"] == "8A"
    assert 1 <= track["energy"] <= 10
    assert track["duration_seconds"] == pytest.approx(20.0, abs=0.1)  # the audio's, not Discogs'
    full = alice.get(f"/api/tracks/{pk}/analysis").json()
    assert full["waveform"]["peaks"] and full["beats"]
    assert full["mood_model"] == "musicnn-msd"
    first_time = track["analyzed_at"]
    with db.session_scope() as s:  # kept beside the document, so outdated analyses are counted without it
        assert s.get(Track, pk).analyzer_version == full["analyzer_version"]
    assert alice.get(f"/api/libraries/{track['library_id']}/analysis").json()["outdated"] == 0

    page = alice.get(f"/tracks/{pk}")
    assert "8A" in page.text and 'class="waveform"' in page.text
    assert full["phrase_starts"] and page.text.count('class="phrase"') == len(full["phrase_starts"])
    assert "MusiCNN tagger, Million Song Dataset tags" in page.text

    # Re-analysis replaces the stored result.
    with db.session_scope() as s:
        s.get(Track, pk).bpm = 1.0
    again = _wait_job(alice, alice.post(f"/api/tracks/{pk}/analyze").json()["job_id"])
    assert again["status"] == "finished"
    track = alice.get(f"/api/tracks/{pk}").json()
    assert track["bpm"] == pytest.approx(124.0, rel=0.02)
    assert track["analyzed_at"] > first_time


def test_corrupt_audio_fails_the_job_with_a_reason(make_user, analysis_stack):
    alice = make_user("alice")
    pk = _track(alice.user_id)
    broken = b"\xff\xfb" + os.urandom(4000)
    r = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("broken.mp3", broken, "audio/mpeg")})
    assert r.status_code == 422 and r.json()["code"] == "not_audio"  # refused by content at upload
    # A file damaged on disk after a good upload: the analysis job says why it failed.
    up = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("ok.mp3", SHORT_MP3, "audio/mpeg")})
    assert up.status_code == 201, up.text
    (get_settings().resolved_audio_dir / up.json()["local_audio_path"]).write_bytes(broken)
    state = _wait_job(alice, alice.post(f"/api/tracks/{pk}/analyze").json()["job_id"])
    assert state["status"] == "failed"
    assert "cannot be analysed" in state["error"]
    assert alice.get(f"/api/tracks/{pk}").json()["bpm"] is None  # nothing half-written


def test_bad_uploads_and_requests(make_user, env_setting):
    alice, bob = make_user("alice"), make_user("bob")
    pk = _track(alice.user_id)
    assert alice.post(f"/api/tracks/{pk}/analyze").status_code == 409  # no audio yet
    r = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert r.status_code == 422 and "unsupported audio type" in r.json()["detail"]
    assert alice.post(f"/api/tracks/{pk}/audio", files={"file": ("x.wav", b"", "audio/wav")}).status_code == 422
    r = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("fake.wav", b"RIFF0000", "audio/wav")})
    assert r.status_code == 422 and r.json()["code"] == "not_audio"  # checked by decoding, not by name
    r = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("../../etc/passwd.wav", TINY_WAV, "audio/wav")})
    assert r.status_code == 201
    assert r.json()["local_audio_path"] == "library_{}/{}.wav".format(
        alice.get(f"/api/tracks/{pk}").json()["library_id"], pk)
    env_setting(ANALYSIS_MAX_UPLOAD_MB="1")
    big = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("big.wav", b"\0" * (2 * 1024 * 1024), "audio/wav")})
    assert big.status_code == 413
    # The failed upload did not replace the audio the track already had.
    assert alice.get(f"/api/tracks/{pk}").json()["local_audio_path"].endswith(f"/{pk}.wav")
    audio_dir = get_settings().resolved_audio_dir
    assert not list(audio_dir.rglob("*.part"))  # nothing of the refused upload left behind
    assert bob.post(f"/api/tracks/{pk}/analyze").status_code == 404
    assert bob.post(f"/api/tracks/{pk}/audio", files={"file": ("x.wav", b"RIFF", "audio/wav")}).status_code == 404
    assert alice.get("/api/analysis/jobs/nope").status_code == 404
    assert alice.get(f"/api/tracks/{pk}/analysis").status_code == 404
    friend_pk = _track(alice.user_id, friend=True)
    assert alice.post(f"/api/tracks/{friend_pk}/analyze").status_code == 403


def test_an_upload_queues_its_analysis(make_user, analysis_stack):
    alice = make_user("alice")
    pk = _track(alice.user_id)
    up = alice.post(f"/api/tracks/{pk}/audio?analyze=true", files={"file": ("groove.wav", GROOVE, "audio/wav")})
    assert up.status_code == 201, up.text
    queued = up.json()["analysis"]
    assert queued["track_pk"] == pk and queued["status"] in ("queued", "started", "finished")
    assert up.json()["analysis_error"] is None
    assert _wait_job(alice, queued["job_id"])["status"] == "finished"
    track = alice.get(f"/api/tracks/{pk}").json()
    assert track["bpm"] == pytest.approx(124.0, rel=0.02) and track["analyzed_at"]
    # Once the job is over the track page offers the button again (the analysis is on the page).
    page = alice.get(f"/tracks/{pk}?analysis_job={queued['job_id']}").text
    assert "Re-analyse" in page and "analysis-progress/" not in page

