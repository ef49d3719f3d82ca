"""The auto-match job: run in-process (directly, and by an in-process RQ worker for its meta and result),
idempotent when run again, one queued job per library and sources."""

from __future__ import annotations

import uuid

import pytest
from rq import SimpleWorker

from services.common.db import get_redis, session_scope
from services.common.models import User
from services.domain import jobs
from services.domain.enrichment import jobs as enrichment_jobs
from services.domain.enrichment import service
from services.domain.jobcenter.service import view
from tests.domain.enrichment import library_fixtures as fx
from tests.domain.enrichment.library_fixtures import SourceNotConfigured, forget_current_jobs

catalog_env, apple_key, clock = fx.catalog_env, fx.apple_key, fx.clock  # fixtures
fake_apple, fake_spotify, crate = fx.fake_apple, fx.fake_spotify, fx.crate


@pytest.fixture
def own_queue(monkeypatch, servers):
    """A queue of this test's own, worked by nobody but the test."""
    name = f"enrich-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(enrichment_jobs, "QUEUE", name)
    forget_current_jobs()
    return name


def test_the_job_function_returns_the_counts_per_source(crate):
    result = enrichment_jobs.enrich_library_job(crate.library_id, ["apple", "spotify"], crate.user_id)
    assert result["total"] == result["processed"] == 9
    apple, spotify = result["sources"]["apple"], result["sources"]["spotify"]
    assert (apple["accepted"], apple["review"], apple["no_match"]) == (2, 1, 1)
    assert (spotify["accepted"], spotify["review"], spotify["no_match"]) == (1, 0, 4)

    again = enrichment_jobs.enrich_library_job(crate.library_id, ["apple", "spotify"], crate.user_id)
    assert again["total"] == 5  # the no-match tracks only: linked and pending ones are skipped
    assert sum(s["accepted"] + s["review"] for s in again["sources"].values()) == 0


def test_a_source_unconfigured_since_queueing_is_reported_stopped(crate, monkeypatch):
    from services.common.settings import get_settings

    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")
    get_settings.cache_clear()
    result = enrichment_jobs.enrich_library_job(crate.library_id, ["apple", "spotify"])
    assert "SPOTIFY_CLIENT_SECRET" in result["sources"]["spotify"]["stopped"]
    assert result["sources"]["apple"]["accepted"] == 2


def test_queued_job_reports_progress_and_its_result_in_the_job_center(crate, own_queue):
    with session_scope() as s:
        start = service.start_enrichment(session=s, user=s.get(User, crate.user_id), library_id=crate.library_id,
                                         sources="apple,spotify")
    assert start.created and start.status == "queued" and start.sources == ["apple", "spotify"]
    # The same sources (or fewer) again: the queued job is returned, not a second one.
    with session_scope() as s:
        same = service.start_enrichment(session=s, user=s.get(User, crate.user_id), library_id=crate.library_id,
                                        sources="spotify")
    assert same.job_id == start.job_id and not same.created

    job = jobs.fetch_job(start.job_id, kind="enrichment")
    assert job.meta["library_id"] == crate.library_id and job.meta["sources"] == ["apple", "spotify"]
    SimpleWorker([jobs.queue(own_queue)], connection=get_redis()).work(burst=True)

    job.refresh()
    assert jobs.status_of(job) == "finished"
    assert job.meta["stage"] == "done" and job.meta["percent"] == 100
    assert job.meta["processed"] == job.meta["total"] == 9
    shown = view(job)
    assert shown.kind == "enrichment" and shown.details["result"]["sources"]["apple"]["accepted"] == 2
    assert shown.details["processed"] == 9

    # Finished: asking again queues a new one.
    with session_scope() as s:
        later = service.start_enrichment(session=s, user=s.get(User, crate.user_id), library_id=crate.library_id,
                                         sources="apple")
    assert later.created and later.job_id != start.job_id


def test_starting_with_an_unconfigured_source_is_refused_before_queueing(crate, own_queue, monkeypatch):
    from services.common.settings import get_settings

    monkeypatch.delenv("APPLE_MUSIC_TEAM_ID")
    get_settings.cache_clear()
    with session_scope() as s:
        owner = s.get(User, crate.user_id)
        with pytest.raises(SourceNotConfigured) as err:
            service.start_enrichment(session=s, user=owner, library_id=crate.library_id, sources="spotify,apple")
    assert "APPLE_MUSIC_TEAM_ID" in err.value.detail
    assert jobs.queue(own_queue).count == 0
