"""New releases from a library's artists: the check against the fake Discogs (real response shapes), the
job run by a real RQ worker through the API, the token rule, and the schedule."""

from __future__ import annotations

import secrets

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from services.common.db import get_redis, session_scope
from services.common.models import Album, Library, NewRelease, User
from services.common.settings import get_settings
from services.domain import jobs
from services.domain.collection.sync import run_sync
from services.domain.new_releases import jobs as nr_jobs
from services.domain.new_releases import service
from services.domain.sources.discogs.client import DiscogsClient, DiscogsTuning

# make_release(n): artist id 1000 + n % 97, year 1970 + n % 50 -> 5 and 102 are artist 1005 (1975, 1972),
# 7 is artist 1007 (1977), 8 is artist 1008 (1978).
COLLECTION = [102, 8, 7, 5]


def _script_artist_1005(fake) -> None:
    fake.add_artist_release(1005, 9001, title="Brand New EP", year=2024, artist="Artist 5 (2)")
    fake.add_artist_release(1005, 9002, title="New Album", year=2023, kind="master", main_release=9003,
                            artist="Artist 5")
    fake.add_artist_release(1005, 9004, title="Somebody's Track (Artist 5 Remix)", year=2022, role="Remix")
    fake.add_artist_release(1005, 9005, title="Release 5", year=2021)  # a repress of a title it holds
    fake.add_artist_release(1005, 9006, title="Undated", year=0)
    fake.add_artist_release(1005, 9007, title="Early Demo", year=1974)  # older than what it holds


@pytest.fixture
def synced(library, make_source, fake_discogs):
    fake_discogs.set_collection("digger", COLLECTION)
    run_sync(library_id=library.id, source=make_source())
    _script_artist_1005(fake_discogs)
    return library


def _client(fake) -> DiscogsClient:
    return DiscogsClient(base_url=fake.base_url, token="t", rate_limit_per_minute=0,
                         tuning=DiscogsTuning(max_attempts=2, backoff_base_seconds=0, backoff_max_seconds=0),
                         sleep=lambda s: None)


def test_artists_come_from_the_stored_release_json(synced):
    with session_scope() as s:
        holdings = service.library_holdings(session=s, library_id=synced.id)
    assert holdings.release_ids == set(COLLECTION)
    assert sorted(holdings.artists) == [1005, 1007, 1008]
    artist = holdings.artists[1005]
    assert artist.latest_year == 1975 and artist.name == "Artist 5" and "release 5" in artist.titles


def test_check_records_only_newer_releases_the_library_does_not_hold(synced, fake_discogs):
    fake_discogs.fault("/artists/1008/releases", "500", "500")  # gives up after max_attempts: listed, goes on
    client = _client(fake_discogs)
    with session_scope() as s:
        summary = service.check_library(session=s, library_id=synced.id, client=client)
    client.close()
    assert summary.artists == 3 and summary.found == 2 and summary.skipped == 0
    assert [f["artist_id"] for f in summary.failed] == [1008] and "server error 500" in summary.failed[0]["reason"]
    assert fake_discogs.requests["/artists/1005/releases"] == 1  # newest first: one page reached 1975
    with session_scope() as s:
        rows = s.scalars(select(NewRelease).order_by(NewRelease.year.desc())).all()
        assert [(r.kind, r.discogs_id, r.title, r.year) for r in rows] == [
            ("release", 9001, "Brand New EP", 2024), ("master", 9002, "New Album", 2023)]
        assert rows[0].artist_name == "Artist 5" and rows[0].url == "https://www.discogs.com/release/9001"
        assert rows[0].label == "Some Label" and rows[1].url == "https://www.discogs.com/master/9002"

    # Again: nothing new. Then the library gets the EP (a sync): the finding is dropped.
    client = _client(fake_discogs)
    with session_scope() as s:
        again = service.check_library(session=s, library_id=synced.id, client=client)
        assert again.found == 0 and again.removed == 0
        s.add(Album(library_id=synced.id, release_id=9001, title="Brand New EP", artist="Artist 5", year=2024))
        s.commit()
        third = service.check_library(session=s, library_id=synced.id, client=client)
    client.close()
    assert third.removed == 1 and third.found == 0
    with session_scope() as s:
        assert [r.discogs_id for r in s.scalars(select(NewRelease))] == [9002]


def test_a_master_whose_main_release_is_held_is_not_new(synced, fake_discogs):
    fake_discogs.add_artist_release(1007, 9100, title="Reissue Master", year=2020, kind="master", main_release=7)
    client = _client(fake_discogs)
    with session_scope() as s:
        service.check_library(session=s, library_id=synced.id, client=client)
        assert 9100 not in set(s.scalars(select(NewRelease.discogs_id)))
    client.close()


@pytest.fixture
def api_library(make_user, discogs_env, make_source):
    """Alice (admin: the server's token) with a synced library, and Bob (no token of his own)."""
    alice = make_user("alice", is_admin=True)
    bob = make_user("bob")
    get_redis().delete(*get_redis().keys("djp:new-releases:*") or ["none"])
    jobs.queue(jobs.SYNC_QUEUE).empty()
    with session_scope() as s:
        lib = Library(owner_id=alice.user_id, name="Alice's records", discogs_username="digger")
        bobs = Library(owner_id=bob.user_id, name="Bob's records", discogs_username="bobby")
        s.add_all([lib, bobs])
        s.flush()
        ids = lib.id, bobs.id
    discogs_env.set_collection("digger", COLLECTION)
    run_sync(library_id=ids[0], source=make_source())
    _script_artist_1005(discogs_env)
    return alice, bob, ids


def test_check_through_the_api_and_a_real_worker(api_library):
    alice, bob, (library_id, bobs_library) = api_library
    empty = alice.get(f"/api/libraries/{library_id}/new-releases")
    assert empty.status_code == 200 and empty.json()["items"] == [] and empty.json()["last_check"] is None

    r = alice.post(f"/api/libraries/{library_id}/new-releases/check")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert alice.post(f"/api/libraries/{library_id}/new-releases/check").json()["job_id"] == job_id  # not twice
    job = jobs.fetch_job(job_id)
    assert job.meta["kind"] == "new_releases" and job.meta["library_id"] == library_id

    SimpleWorker([jobs.queue(jobs.SYNC_QUEUE)], connection=get_redis()).work(burst=True)
    job.refresh()
    assert jobs.status_of(job) == "finished", jobs.failure_reason(job)
    assert job.meta["stage"] == "done" and job.return_value()["found"] == 2

    body = alice.get(f"/api/libraries/{library_id}/new-releases").json()
    assert [i["discogs_id"] for i in body["items"]] == [9001, 9002] and body["job_id"] is None
    assert body["last_check"]["artists"] == 3 and body["last_check"]["found"] == 2

    # Other users: not found; a user without a Discogs token of their own is refused, naming why.
    assert bob.get(f"/api/libraries/{library_id}/new-releases").status_code == 404
    assert bob.post(f"/api/libraries/{library_id}/new-releases/check").status_code == 404
    refused = bob.post(f"/api/libraries/{bobs_library}/new-releases/check")
    assert refused.status_code == 400 and refused.json()["code"] == "discogs_token_missing"


@pytest.fixture
def schedule_env(monkeypatch, discogs_env):
    monkeypatch.setenv("DISCOGS_NEW_RELEASES_INTERVAL_HOURS", "168")
    monkeypatch.setattr(nr_jobs, "QUEUE", f"test-new-releases-{secrets.token_hex(4)}")
    monkeypatch.setattr(nr_jobs, "_SCHEDULED_KEY", f"test:new-releases:scheduled:{secrets.token_hex(4)}")
    get_settings.cache_clear()
    yield
    get_redis().delete(nr_jobs._SCHEDULED_KEY)
    monkeypatch.undo()
    get_settings.cache_clear()


def _scheduled() -> list[str]:
    return ScheduledJobRegistry(queue=jobs.queue(nr_jobs.QUEUE)).get_job_ids()


def test_the_schedule_is_planned_once_and_checks_libraries_whose_owner_has_a_token(synced, schedule_env):
    with session_scope() as s:  # a user without a token of their own, and their library
        carol = User(username="carol", password_hash="x")
        s.add(carol)
        s.flush()
        s.add(Library(owner_id=carol.id, name="Carol's"))
        s.flush()
        s.add(Album(library_id=s.scalar(select(Library.id).where(Library.owner_id == carol.id)), release_id=5,
                    title="Release 5", artist="Artist 5"))
        carols = s.scalar(select(Library.id).where(Library.owner_id == carol.id))
    assert nr_jobs.schedule_checks() is True
    assert nr_jobs.schedule_checks() is False  # a worker restart does not plan a second one
    (planned,) = _scheduled()
    assert jobs.fetch_job(planned).meta["kind"] == "new_releases"

    result = nr_jobs.scheduled_check_job()
    assert result == {"queued": [synced.id], "no_token": [carols]}
    assert nr_jobs.current_job_id(synced.id) is not None and nr_jobs.current_job_id(carols) is None
    assert len(_scheduled()) == 2  # the next run is planned (the first is still in the registry here)


def test_no_schedule_when_the_interval_is_zero(schedule_env, monkeypatch):
    monkeypatch.setenv("DISCOGS_NEW_RELEASES_INTERVAL_HOURS", "0")
    get_settings.cache_clear()
    assert nr_jobs.schedule_checks() is False and _scheduled() == []


def test_cli_checks_here_and_lists(synced):
    from typer.testing import CliRunner

    from services.cli import app

    runner = CliRunner()
    checked = runner.invoke(app, ["new-releases", "check", "--library", str(synced.id), "--user", "owner"])
    assert checked.exit_code == 0, checked.output
    assert "3 artists" in checked.output and "2 new release(s)" in checked.output
    assert "2024\tArtist 5\tBrand New EP\trelease\thttps://www.discogs.com/release/9001" in checked.stdout
    listed = runner.invoke(app, ["new-releases", "list", "--library", str(synced.id), "--user", "owner"])
    assert listed.exit_code == 0 and listed.stdout.splitlines()[1].startswith("2023\tArtist 5\tNew Album\tmaster")
    other = runner.invoke(app, ["new-releases", "check", "--library", "999", "--user", "owner"])
    assert other.exit_code == 1 and "library not found" in other.output
