"""Backups over HTTP: admins only, a backup made by the job and downloaded, names that try to leave the dumps
folder refused, a damaged dump refused at once with the data untouched; the settings page."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from services.common import db as common_db
from services.common.db import get_redis
from services.common.models import User
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.backups import jobs as backup_jobs

NAME = "djp-20200101T000000Z.dump"


@pytest.fixture
def dumps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers):
    """BACKUP_DIR in tmp_path, and backup jobs on a queue of this test's own (run with run_jobs)."""
    folder = tmp_path / "dumps"
    monkeypatch.setenv("BACKUP_DIR", str(folder))
    monkeypatch.setattr(backup_jobs, "QUEUE", f"test-backups-{secrets.token_hex(4)}")
    get_settings.cache_clear()
    yield folder
    monkeypatch.undo()
    get_settings.cache_clear()


def run_jobs() -> None:
    SimpleWorker([jobs.queue(backup_jobs.QUEUE)], connection=get_redis()).work(burst=True)


@pytest.fixture
def admin(make_user):
    return make_user("root", is_admin=True)


def test_backup_routes_are_for_admins_only(make_user, client, dumps: Path) -> None:
    dumps.mkdir()
    (dumps / NAME).write_bytes(b"PGDMP")
    dj = make_user("dj")
    for method, path in [("get", "/api/admin/backups"), ("post", "/api/admin/backups"),
                         ("get", f"/api/admin/backups/{NAME}"), ("delete", f"/api/admin/backups/{NAME}"),
                         ("post", f"/api/admin/backups/{NAME}/restore"), ("get", "/api/admin/backups/jobs/x"),
                         ("post", "/settings/backups"), ("get", "/settings/backups/list"),
                         ("delete", f"/settings/backups/{NAME}"), ("post", f"/settings/backups/{NAME}/restore")]:
        r = getattr(dj, method)(path)
        assert r.status_code == 403, (method, path, r.status_code)
        assert r.json()["code"] == "forbidden"
        assert getattr(client, method)(path).status_code == 401, (method, path)
    page = dj.get("/settings/backups", headers={"accept": "text/html"})
    assert page.status_code == 403 and "Back up now" not in page.text
    assert (dumps / NAME).read_bytes() == b"PGDMP"  # nothing deleted
    assert 'href="/settings/backups"' not in dj.get("/settings").text


def test_an_admin_backs_up_downloads_and_deletes(admin, dumps: Path) -> None:
    r = admin.post("/api/admin/backups")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert admin.get(f"/api/admin/backups/jobs/{job_id}").json()["status"] == "queued"
    run_jobs()
    job = admin.get(f"/api/admin/backups/jobs/{job_id}").json()
    assert job["status"] == "finished" and job["percent"] == 100 and job["kind"] == "backup", job
    name = job["details"]["result"]["name"]

    listing = admin.get("/api/admin/backups").json()
    assert [b["name"] for b in listing] == [name] and listing[0]["size"] == (dumps / name).stat().st_size
    assert dumps.stat().st_mode & 0o777 == 0o700 and (dumps / name).stat().st_mode & 0o777 == 0o600

    download = admin.get(f"/api/admin/backups/{name}")
    assert download.status_code == 200 and download.content == (dumps / name).read_bytes()
    assert download.content.startswith(b"PGDMP") and name in download.headers["content-disposition"]

    # The dump is a real one of this app: the restore check passes it (the restore itself is tested on a
    # database of its own in tests/domain/backups; here the shared test database must stay as it is).
    from services.domain.backups import service

    assert service.check_backup(name=name).revision

    assert admin.delete(f"/api/admin/backups/{name}").status_code == 204
    assert admin.get("/api/admin/backups").json() == []
    assert admin.get(f"/api/admin/backups/{name}").status_code == 404


@pytest.mark.parametrize("path", [
    "/api/admin/backups/..%2F..%2Fetc%2Fpasswd", "/api/admin/backups/%2e%2e", "/api/admin/backups/.lock",
    "/api/admin/backups/djp-x.dump", "/api/admin/backups/passwd", "/api/admin/backups/..%2Fdumps%2F" + NAME,
    "/api/admin/backups/%2Fetc%2Fpasswd",
])
def test_names_outside_the_dumps_folder_are_refused(admin, dumps: Path, path: str) -> None:
    dumps.mkdir()
    (dumps / NAME).write_bytes(b"PGDMP")
    (dumps.parent / "passwd").write_text("secret")
    for method, suffix in [("get", ""), ("delete", ""), ("post", "/restore")]:
        r = getattr(admin, method)(path + suffix)
        assert r.status_code in (404, 405, 422), (method, path, r.status_code)
        assert "secret" not in r.text
    assert (dumps / NAME).exists() and (dumps.parent / "passwd").exists()


def test_a_bad_name_is_a_clear_422(admin, dumps: Path) -> None:
    r = admin.get("/api/admin/backups/passwd")
    assert r.status_code == 422 and r.json()["code"] == "bad_backup_name"
    assert admin.get(f"/api/admin/backups/{NAME}").status_code == 404  # well-formed, absent


def test_a_damaged_dump_is_refused_at_once_and_nothing_is_touched(admin, dumps: Path) -> None:
    r = admin.post("/api/admin/backups")
    run_jobs()
    name = admin.get(f"/api/admin/backups/jobs/{r.json()['job_id']}").json()["details"]["result"]["name"]
    data = (dumps / name).read_bytes()
    (dumps / NAME).write_bytes(data[: len(data) // 2])
    with common_db.session_scope() as session:
        users = session.scalar(select(func.count()).select_from(User))
    r = admin.post(f"/api/admin/backups/{NAME}/restore")
    assert r.status_code == 422, r.text
    assert "nothing was restored" in r.json()["detail"] and r.json()["code"] in ("backup_damaged", "backup_unreadable")
    assert jobs.queue(backup_jobs.QUEUE).count == 0  # refused before a job was queued
    with common_db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(User)) == users
    # Refused in the page too: the message goes to the page's error slot (JSON detail).
    r = admin.post(f"/settings/backups/{NAME}/restore", headers={"hx-request": "true"})
    assert r.status_code == 422 and "nothing was restored" in r.json()["detail"]


def test_the_backups_page(admin, dumps: Path) -> None:
    assert 'href="/settings/backups"' in admin.get("/settings").text
    page = admin.get("/settings/backups")
    assert page.status_code == 200 and "Back up now" in page.text and "No backups yet" in page.text
    r = admin.post("/settings/backups", headers={"hx-request": "true"})
    assert r.status_code == 200 and 'hx-trigger="every 1s"' in r.text
    job_url = r.text.split('hx-get="', 1)[1].split('"', 1)[0]
    run_jobs()
    done = admin.get(job_url, headers={"hx-request": "true"})
    assert "finished" in done.text and done.headers.get("hx-trigger") == "backups-changed"
    listing = admin.get("/settings/backups/list", headers={"hx-request": "true"})
    (name,) = [p.name for p in dumps.iterdir() if p.name.endswith(".dump")]
    assert f'data-backup="{name}"' in listing.text and f'href="/api/admin/backups/{name}"' in listing.text
    after = admin.delete(f"/settings/backups/{name}", headers={"hx-request": "true"})
    assert after.status_code == 200 and "No backups yet" in after.text and not (dumps / name).exists()
