"""`jobs.schedule_periodic`, the one rule the scheduled repair, backup and new-releases check plan by."""

from __future__ import annotations

import os

import pytest
from rq.registry import ScheduledJobRegistry

from services.common.db import get_redis
from services.domain import jobs

KEY = "djp:test:scheduled"


@pytest.fixture(autouse=True)
def empty_queues(clean_db):
    get_redis().flushdb()


def test_plans_one_run_and_keeps_its_id():
    job = jobs.schedule_periodic(KEY, 2, jobs.SYNC_QUEUE, os.getpid, kind="repair", description="test run")
    assert job is not None and job.meta["scheduled"] is True
    assert get_redis().get(KEY).decode() == job.id
    assert job.id in ScheduledJobRegistry(queue=jobs.queue(jobs.SYNC_QUEUE)).get_job_ids()
    assert 4 * 3600 < get_redis().ttl(KEY) <= 4 * 3600 + 60  # twice the interval: a lost run does not block forever
    assert jobs.schedule_periodic(KEY, 2, jobs.SYNC_QUEUE, os.getpid, kind="repair", description="again") is None
    assert len(ScheduledJobRegistry(queue=jobs.queue(jobs.SYNC_QUEUE))) == 1


def test_an_interval_of_zero_plans_nothing():
    assert jobs.schedule_periodic(KEY, 0, jobs.SYNC_QUEUE, os.getpid, kind="repair", description="off") is None
    assert get_redis().get(KEY) is None


def test_a_failed_enqueue_does_not_block_the_next_plan(monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("queue down")

    monkeypatch.setattr(jobs, "enqueue", broken)
    with pytest.raises(ConnectionError):
        jobs.schedule_periodic(KEY, 2, jobs.SYNC_QUEUE, os.getpid, kind="repair", description="test run")
    assert get_redis().get(KEY) is None
    monkeypatch.undo()
    assert jobs.schedule_periodic(KEY, 2, jobs.SYNC_QUEUE, os.getpid, kind="repair", description="test run")
