"""The job center's kind filter covers every kind of job (`jobs.KINDS`): drift repair, new-release checks,
backups and restores included, in the API and in the page's select."""

from __future__ import annotations

import re

import pytest

from services.common import db
from services.common.db import get_redis
from services.common.models import Library
from services.domain import jobs
from services.domain.backups import jobs as backup_jobs
from services.domain.embeddings import jobs as embedding_jobs
from services.domain.maintenance import jobs as maintenance_jobs
from services.domain.new_releases import jobs as new_release_jobs


@pytest.fixture(autouse=True)
def empty_queues(clean_db):
    get_redis().flushdb()


def test_every_registered_kind_is_a_filter_in_the_api_and_the_page(make_user):
    admin = make_user("root", is_admin=True)
    with db.session_scope() as s:
        library = Library(owner_id=admin.user_id, name="Crates")
        s.add(library)
        s.flush()
        library_id = library.id
    # No worker runs: these stay queued, as the real call sites queue them.
    queued = {
        "repair": maintenance_jobs.enqueue_repair(user_id=admin.user_id),
        "backup": backup_jobs.enqueue_backup(user_id=admin.user_id).id,
        "new_releases": new_release_jobs.enqueue_check(library_id=library_id, user_id=admin.user_id)[0].id,
        "embeddings_backfill": embedding_jobs.enqueue_backfill(library_id=library_id).id,
    }
    for kind in jobs.KINDS:
        listed = admin.get("/api/jobs", params={"kind": kind})
        assert listed.status_code == 200, (kind, listed.text)
        assert [j["id"] for j in listed.json()] == ([queued[kind]] if kind in queued else []), kind
        assert {j["kind"] for j in listed.json()} <= {kind}

    page = admin.get("/jobs")
    assert page.status_code == 200
    select = re.search(r'<select name="kind">(.*?)</select>', page.text, re.S).group(1)
    options = [o for o in re.findall(r'<option value="([^"]*)"', select) if o]
    assert options == list(jobs.KINDS)
    for kind, job_id in queued.items():
        filtered = admin.get("/jobs", params={"kind": kind})
        assert filtered.status_code == 200, (kind, filtered.text)
        assert job_id in filtered.text and f'<option value="{kind}" selected' in filtered.text
    # Pages name a kind in words; the API keeps the kind itself beside its label.
    assert set(jobs.KIND_LABELS) == set(jobs.KINDS)
    assert re.search(r'<option value="embeddings_backfill"\s*>embeddings \(every track\)</option>', page.text)
    backfill = admin.get("/api/jobs", params={"kind": "embeddings_backfill"}).json()[0]
    assert (backfill["kind"], backfill["kind_label"]) == ("embeddings_backfill", "embeddings (every track)")
    assert '<td data-col="kind">embeddings (every track)</td>' in page.text
