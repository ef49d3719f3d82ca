"""Drift repair: embeddings missing or stale for the active model are queued for embedding; a MeiliSearch
index whose document count drifted beyond the pending changes is rebuilt (a local server speaking the stats
endpoint's real shape); the run is recorded, scheduled once, and shown to admins."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from services.common.db import get_redis, session_scope
from services.common.models import SearchOutbox, Track
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.embeddings import jobs as embedding_jobs
from services.domain.embeddings import service as embeddings
from services.domain.maintenance import jobs as repair_jobs
from services.domain.maintenance import service


class FakeMeili:
    """`GET /indexes/tracks/stats` as MeiliSearch answers it; `documents = None` answers 503."""

    def __init__(self) -> None:
        self.documents: int | None = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/indexes/tracks/stats" or fake.documents is None:
                    body, status = b'{"message": "unavailable", "code": "internal", "type": "internal"}', 503
                else:
                    body, status = json.dumps({"numberOfDocuments": fake.documents, "isIndexing": False,
                                               "fieldDistribution": {"id": fake.documents}}).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tracks(committed_library, monkeypatch) -> Iterator[list[int]]:
    """Six live tracks (three analysed) and one deleted, all embedded; pending embedding state cleared."""
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "local")
    monkeypatch.delenv("MEILISEARCH_HOST", raising=False)
    get_settings.cache_clear()
    redis = get_redis()
    redis.delete(embedding_jobs.PENDING_KEY, embedding_jobs.SCHEDULED_KEY, service.LAST_KEY)
    jobs.queue(jobs.EMBEDDINGS_QUEUE).empty()
    _, library_id = committed_library
    with session_scope() as s:
        rows = [Track(track_id=f"1-A{i}", library_id=library_id, title=f"Track {i}", artist="A", bpm=120.0 + i,
                      camelot="8A", analyzed_at=datetime.now(UTC) if i < 3 else None) for i in range(6)]
        rows.append(Track(track_id="1-B9", library_id=library_id, title="Gone", deleted_at=datetime.now(UTC)))
        s.add_all(rows)
        s.flush()
        pks = [t.id for t in rows[:6]]
        embeddings.embed_tracks(s, track_pks=pks)
    yield pks
    redis.delete(embedding_jobs.PENDING_KEY, embedding_jobs.SCHEDULED_KEY, service.LAST_KEY)
    monkeypatch.undo()
    get_settings.cache_clear()


def test_missing_and_stale_embeddings_are_found_and_queued(tracks):
    with session_scope() as s:
        assert embeddings.tracks_needing_embedding(s) == []
        edited = s.get(Track, tracks[0])
        edited.title = "Track 0 (Edit)"  # its text changed: the stored hash is stale
        reanalysed = s.get(Track, tracks[1])
        reanalysed.bpm = 174.0  # its audio features changed
        newcomer = Track(track_id="2-A1", library_id=edited.library_id, title="New", artist="B")
        s.add(newcomer)  # never embedded
        s.flush()
        expected = sorted([tracks[0], tracks[1], newcomer.id])
    with session_scope() as s:
        assert embeddings.tracks_needing_embedding(s, batch_size=2) == expected
        other_model = embeddings.tracks_needing_embedding(s, model="some-other-model")
        assert len(other_model) == 7  # every live track lacks that model's text vector

    registry = ScheduledJobRegistry(jobs.EMBEDDINGS_QUEUE, connection=get_redis())
    scheduled_before = set(registry.get_job_ids())  # other tests' leftovers in the shared Redis
    with session_scope() as s:
        run = service.repair_drift(session=s)
    assert run.embeddings.tracks == 3 and run.embeddings.queued and run.embeddings.error is None
    assert run.embeddings.model == embeddings.text_model()
    assert run.search.backend == "postgres" and run.search.rebuild_job_id is None
    assert sorted(int(v) for v in get_redis().smembers(embedding_jobs.PENDING_KEY)) == expected
    assert len(set(registry.get_job_ids()) - scheduled_before) == 1

    embedding_jobs.embed_pending_job()  # what the embeddings worker runs next
    with session_scope() as s:
        assert embeddings.tracks_needing_embedding(s) == []
        assert service.repair_drift(session=s).embeddings.tracks == 0
    assert service.last_repair().embeddings.tracks == 0 and not service.last_repair().repaired


def test_tempos_analysed_before_the_style_rule_move_to_their_styles_octave_first(tracks):
    from services.domain.analysis.results import store_analysis
    from tests.domain.analysis.test_results import _result

    halftime = _result(bpm=70.0, bpm_candidates=[{"bpm": 70.0, "confidence": 0.6, "relation": "chosen"},
                                                 {"bpm": 140.0, "confidence": 0.4, "relation": "double"}])
    with session_scope() as s:
        t = s.get(Track, tracks[3])
        store_analysis(session=s, track=t, result=halftime)
        t.styles = ["Dubstep"]  # a style that arrived after the analysis, as before the rule existed
        embeddings.embed_tracks(s, track_pks=[t.id])
    with session_scope() as s:
        run = service.repair_drift(session=s)
    assert run.tempo.tracks == 1 and run.tempo.error is None and run.repaired
    assert run.embeddings.tracks == 1 and run.embeddings.queued  # its audio vector holds the tempo
    with session_scope() as s:
        t = s.get(Track, tracks[3])
        assert (t.bpm, t.bpm_source, t.analysed_bpm) == (140.0, "style", 70.0)
        assert service.repair_drift(session=s).tempo.tracks == 0


@pytest.fixture
def meili(tracks, monkeypatch) -> Iterator[FakeMeili]:
    fake = FakeMeili()
    monkeypatch.setenv("MEILISEARCH_HOST", fake.url)
    get_settings.cache_clear()
    jobs.queue(jobs.SEARCH_QUEUE).empty()
    yield fake
    fake.stop()


def test_search_drift_beyond_the_pending_changes_queues_a_rebuild(meili, tracks):
    meili.documents = 6  # in step with the six live tracks
    with session_scope() as s:
        run = service.repair_search(session=s)
    assert (run.backend, run.tracks, run.documents, run.drift, run.rebuild_job_id) == ("meilisearch", 6, 6, 0, None)

    meili.documents = 9  # three documents of deleted tracks linger
    with session_scope() as s:
        run = service.repair_drift(session=s).search
    assert run.drift == 3 and run.pending_changes == 0 and run.rebuild_job_id is not None
    job = jobs.fetch_job(run.rebuild_job_id)
    assert job.meta["kind"] == "search_rebuild" and job.origin == jobs.SEARCH_QUEUE
    assert service.last_repair().search.rebuild_job_id == run.rebuild_job_id and service.last_repair().repaired

    meili.documents = 4  # two behind, but three changes wait in the outbox: the next drain fixes it
    with session_scope() as s:
        s.add_all([SearchOutbox(track_pk=pk) for pk in tracks[:3]])
        s.flush()
        run = service.repair_search(session=s)
    assert run.drift == -2 and run.pending_changes == 3 and run.rebuild_job_id is None


def test_an_unreachable_index_is_recorded_and_the_embeddings_are_still_repaired(meili, tracks):
    meili.documents = None
    with session_scope() as s:
        s.get(Track, tracks[2]).title = "Changed"
        s.flush()
        run = service.repair_drift(session=s)
    assert run.search.error and "MeiliSearch" in run.search.error and run.search.rebuild_job_id is None
    assert run.embeddings.tracks == 1 and run.embeddings.queued


def test_repair_through_the_admin_api_and_a_real_worker(tracks, make_user):
    admin, dj = make_user("root", is_admin=True), make_user("someone")
    jobs.queue(jobs.SYNC_QUEUE).empty()
    assert admin.get("/api/admin/repair").json()["last_run"] is None
    r = admin.post("/api/admin/repair")
    assert r.status_code == 202, r.text
    job = jobs.fetch_job(r.json()["job_id"])
    assert job.meta["kind"] == "repair" and job.origin == jobs.SYNC_QUEUE

    with session_scope() as s:
        s.get(Track, tracks[4]).artist = "Someone Else"
    SimpleWorker([jobs.queue(jobs.SYNC_QUEUE)], connection=get_redis()).work(burst=True)
    job.refresh()
    assert jobs.status_of(job) == "finished", jobs.failure_reason(job)
    assert job.return_value()["embeddings"]["tracks"] == 1

    state = admin.get("/api/admin/repair").json()
    assert state["last_run"]["job_id"] == job.id and state["last_run"]["embeddings"]["queued"] is True
    status = admin.get("/api/admin/search/status").json()
    assert status["backend"] == "postgres" and status["last_repair"]["embeddings"]["tracks"] == 1
    assert dj.get("/api/admin/repair").status_code == 403 and dj.post("/api/admin/repair").status_code == 403


@pytest.fixture
def schedule_env(tracks, monkeypatch):
    monkeypatch.setattr(repair_jobs, "QUEUE", f"test-repair-{secrets.token_hex(4)}")
    monkeypatch.setattr(repair_jobs, "_SCHEDULED_KEY", f"test:repair:scheduled:{secrets.token_hex(4)}")
    yield
    get_redis().delete(repair_jobs._SCHEDULED_KEY)


def _scheduled() -> list[str]:
    return ScheduledJobRegistry(queue=jobs.queue(repair_jobs.QUEUE)).get_job_ids()


def test_the_repair_is_scheduled_once_by_default_and_each_run_plans_the_next(schedule_env):
    assert get_settings().repair_interval_hours == 24  # on unless turned off
    assert repair_jobs.next_repair_at() is None
    assert repair_jobs.schedule_repair() is True
    assert repair_jobs.schedule_repair() is False  # a worker restart does not plan a second one
    (planned,) = _scheduled()
    assert jobs.fetch_job(planned).meta["kind"] == "repair"
    at = repair_jobs.next_repair_at()
    assert at is not None and 23.9 * 3600 < (at - datetime.now(UTC)).total_seconds() <= 24 * 3600

    result = repair_jobs.repair_job(True)
    assert result["embeddings"]["tracks"] == 0 and service.last_repair() is not None
    assert len(_scheduled()) == 2  # the next one is planned (the first is still in the registry here)


def test_no_schedule_when_the_interval_is_zero(schedule_env, monkeypatch):
    monkeypatch.setenv("REPAIR_INTERVAL_HOURS", "0")
    get_settings.cache_clear()
    assert repair_jobs.schedule_repair() is False and _scheduled() == []
