"""`jobs.KINDS` is the one registry of job kinds: `enqueue` refuses any other kind, and the job center's
filter accepts exactly these (the web tests check the API and the page: tests/web/test_job_kinds.py)."""

from __future__ import annotations

import os
from typing import get_args

import pytest
from pydantic import ValidationError

from services.common.db import get_redis
from services.domain import jobs
from services.domain.backups import jobs as backup_jobs
from services.domain.enrichment import jobs as enrichment_jobs
from services.domain.jobcenter.models import JobFilter, JobKind
from services.domain.maintenance import jobs as maintenance_jobs
from services.domain.new_releases import jobs as new_release_jobs


@pytest.fixture(autouse=True)
def empty_queues(clean_db):
    get_redis().flushdb()


def test_the_kinds_the_domains_queue_are_registered():
    assert {maintenance_jobs.KIND, new_release_jobs.KIND, enrichment_jobs.KIND, *backup_jobs.KINDS} <= set(jobs.KINDS)
    assert len(set(jobs.KINDS)) == len(jobs.KINDS)


def test_the_filter_accepts_every_registered_kind_and_nothing_else():
    assert set(get_args(JobKind)) == set(jobs.KINDS)
    for kind in jobs.KINDS:
        assert JobFilter(kind=kind).kind == kind
    with pytest.raises(ValidationError):
        JobFilter(kind="search_sync")  # queued outside `enqueue` (internal), never listed


def test_enqueue_refuses_an_unregistered_kind():
    with pytest.raises(ValueError, match="KINDS"):
        jobs.enqueue(jobs.DOWNLOAD_QUEUE, os.getpid, kind="mystery", user_id=7)
    assert jobs.queue(jobs.DOWNLOAD_QUEUE).count == 0
    assert jobs.user_live_jobs(7, "mystery") == 0  # no slot taken either
