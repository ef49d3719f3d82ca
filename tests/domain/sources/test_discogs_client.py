"""The Discogs client against the fake server: auth, pagination, rate limits, retries, bad JSON."""

from __future__ import annotations

import time

import pytest

from services.domain.sources.base import MalformedResponse, SourceAuthError, SourceError, SourceNotFound
from services.domain.sources.discogs.client import RateLimiter
from tests.fakes.discogs_fixtures import TOKEN, FakeClock


def test_auth_header_user_agent_and_pagination(make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(250, 0, -1)))
    source = make_source()
    pages = list(source.collection_pages("digger"))
    assert [p.page for p in pages] == [1, 2, 3]
    assert pages[0].pages == 3 and pages[0].items == 250
    assert sum(len(p.albums) for p in pages) == 250
    assert pages[-1].next_url is None
    assert fake_discogs.authorization[f"Discogs token={TOKEN}"] == 3
    assert any(ua.startswith("DJPlaylist/") for ua in fake_discogs.user_agents)


def test_resume_from_a_later_page(make_source, fake_discogs):
    fake_discogs.set_collection("digger", list(range(250, 0, -1)))
    pages = list(make_source().collection_pages("digger", start_page=3))
    assert [p.page for p in pages] == [3]
    assert len(pages[0].albums) == 50


def test_429_waits_retry_after_then_succeeds(make_source, fake_discogs):
    fake_discogs.add_release({"id": 7, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/7", "429:3", "429:5")
    source = make_source()
    assert source.fetch_release(7)["id"] == 7
    assert fake_discogs.release_requests(7) == 3
    # Retry-After honoured: waited >= 3 then >= 5 seconds (fake clock, so the test does not wait).
    assert sum(source.clock.sleeps) >= 8
    assert max(source.clock.sleeps) >= 5


def test_429_retry_after_is_capped_and_attempts_bounded(make_source, fake_discogs):
    fake_discogs.add_release({"id": 8, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/8", *["429:3600"] * 10)
    source = make_source(tuning={"max_attempts": 3, "max_retry_after_seconds": 30})
    with pytest.raises(SourceError, match="gave up after 3 attempts"):
        source.fetch_release(8)
    assert fake_discogs.release_requests(8) == 3
    assert max(source.clock.sleeps) <= 30


def test_real_sleep_for_retry_after(discogs_env, fake_discogs):
    """Without a fake clock: a 1 s Retry-After really delays the retry by >= 1 s."""
    from services.domain.sources.discogs.client import DiscogsClient, DiscogsTuning

    fake_discogs.add_release({"id": 9, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/9", "429:1")
    client = DiscogsClient(base_url=fake_discogs.base_url, token=TOKEN, rate_limit_per_minute=0,
                           tuning=DiscogsTuning())
    started = time.monotonic()
    assert client.release(9)["id"] == 9
    assert time.monotonic() - started >= 1.0
    client.close()


def test_500_then_success_is_retried(make_source, fake_discogs):
    fake_discogs.add_release({"id": 11, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/11", "500", "500")
    source = make_source()
    assert source.fetch_release(11)["id"] == 11
    assert fake_discogs.release_requests(11) == 3
    assert source.client.retry_count == 2


def test_persistent_500_gives_up(make_source, fake_discogs):
    fake_discogs.add_release({"id": 12, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/12", *["500"] * 10)
    with pytest.raises(SourceError, match="server error 500"):
        make_source(tuning={"max_attempts": 4}).fetch_release(12)
    assert fake_discogs.release_requests(12) == 4


def test_hang_past_timeout_is_retried(make_source, fake_discogs):
    fake_discogs.add_release({"id": 13, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/13", "hang:1.5")
    source = make_source(tuning={"timeout_seconds": 0.3})
    started = time.monotonic()
    assert source.fetch_release(13)["id"] == 13
    assert time.monotonic() - started < 1.4  # gave up on the hung request at the timeout
    assert fake_discogs.release_requests(13) == 2


def test_malformed_json_is_not_retried(make_source, fake_discogs):
    fake_discogs.add_release({"id": 14, "title": "x", "tracklist": []})
    fake_discogs.fault("/releases/14", "malformed")
    with pytest.raises(MalformedResponse, match="malformed JSON"):
        make_source().fetch_release(14)
    assert fake_discogs.release_requests(14) == 1


def test_not_found_and_private(make_source, fake_discogs):
    source = make_source()
    with pytest.raises(SourceNotFound):
        source.fetch_release(999999)
    fake_discogs.collections["secret"] = []
    fake_discogs.private.add("secret")
    with pytest.raises(SourceAuthError):
        list(source.collection_pages("secret"))


def test_slows_down_when_remaining_is_low(make_source, fake_discogs):
    """The server says 60/min; near the end of the budget the client spaces its requests out."""
    fake_discogs.add_release({"id": 15, "title": "x", "tracklist": []})
    source = make_source(tuning={"slowdown_remaining": 5})
    for _ in range(54):
        source.fetch_release(15)
    assert source.clock.sleeps == []  # plenty left: no waiting
    for _ in range(5):
        source.fetch_release(15)
    # remaining went 5, 4, 3, 2, 1 -> waits of 1 s, 2 s, 3 s... (one 60 s window / 60 per step)
    assert len(source.clock.sleeps) >= 4
    assert source.clock.sleeps[0] == pytest.approx(1.0)
    assert source.clock.sleeps[-1] > source.clock.sleeps[0]


def test_local_limit_paces_to_per_minute():
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()  # the 61st request within the window waits for the oldest to expire
    assert clock.sleeps == [pytest.approx(60.0)]
    off = RateLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        off.acquire()
    assert len(clock.sleeps) == 1
