"""An upload queues its analysis (ANALYZE_UPLOADS, `?analyze=`), the track page follows it, and the audio is
kept when the queue cannot take the job. No worker runs in this module: a queued job stays queued (and is
cancelled at the end); test_analysis_flow.py runs one through a real worker."""

from __future__ import annotations

from services.common import db
from services.common.models import Track
from services.common.settings import get_settings
from tests.web.test_analysis_flow import TINY_WAV, _track


def _cancel(client, job_id: str) -> None:
    """No worker runs here: the job must not wait in the queue for a later module's worker."""
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 200


def test_upload_analysis_follows_the_setting_and_the_query(make_user, env_setting):
    alice = make_user("alice")
    pk = _track(alice.user_id)
    off = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("a.wav", TINY_WAV, "audio/wav")})
    assert off.status_code == 201 and off.json()["analysis"] is None  # ANALYZE_UPLOADS=false in the tests
    env_setting(ANALYZE_UPLOADS="true")
    skipped = alice.post(f"/api/tracks/{pk}/audio?analyze=false", files={"file": ("a.wav", TINY_WAV, "audio/wav")})
    assert skipped.status_code == 201 and skipped.json()["analysis"] is None
    on = alice.post(f"/api/tracks/{pk}/audio", files={"file": ("a.wav", TINY_WAV, "audio/wav")})
    assert on.status_code == 201, on.text
    job_id = on.json()["analysis"]["job_id"]
    try:
        # The page the upload form refreshes to shows the queued analysis's live progress, not the button.
        page = alice.get(f"/tracks/{pk}?analysis_job={job_id}").text
        assert f'hx-get="/tracks/{pk}/analysis-progress/{job_id}"' in page
        assert f'hx-post="/tracks/{pk}/analyze"' not in page
        with db.session_scope() as s:  # another track's job id is not this track's progress
            neighbour = Track(track_id="42-A2", library_id=s.get(Track, pk).library_id, title="B side")
            s.add(neighbour)
            s.flush()
            other = neighbour.id
        assert "analysis-progress/" not in alice.get(f"/tracks/{other}?analysis_job={job_id}").text
        assert "analysis-progress/" not in alice.get(f"/tracks/{pk}?analysis_job=nope").text
    finally:
        _cancel(alice, job_id)


def test_upload_kept_when_its_analysis_cannot_be_queued(make_user, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from services.domain.analysis import service

    def queue_down(**_):
        raise RedisConnectionError("connection refused")

    monkeypatch.setattr(service, "enqueue_analysis", queue_down)
    alice = make_user("alice")
    pk = _track(alice.user_id)
    up = alice.post(f"/api/tracks/{pk}/audio?analyze=true", files={"file": ("a.wav", TINY_WAV, "audio/wav")})
    assert up.status_code == 201, up.text
    assert up.json()["analysis"] is None and "job queue unavailable" in up.json()["analysis_error"]
    stored = alice.get(f"/api/tracks/{pk}").json()["local_audio_path"]
    assert stored == up.json()["local_audio_path"] and (get_settings().resolved_audio_dir / stored).is_file()
