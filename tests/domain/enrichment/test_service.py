"""The enrichment service in-process against the catalog fakes: auto-accept, review queue, no match, links
set by hand never replaced, accept / choose another / reject, errors per track and per source."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.common.db import session_scope
from services.common.models import EnrichmentReview, Track, User
from services.domain.enrichment import service
from services.domain.enrichment.sources import base
from services.domain.errors import Conflict, Invalid, NotFound
from services.domain.tracks.service import update_track
from tests.domain.enrichment import library_fixtures as fx
from tests.domain.enrichment.library_fixtures import MANUAL_APPLE_URL, STRINGS_372, SourceNotConfigured

catalog_env, apple_key, clock = fx.catalog_env, fx.apple_key, fx.clock  # fixtures
fake_apple, fake_spotify, crate = fx.fake_apple, fx.fake_spotify, fx.crate

SPOTIFY_SEARCH = "/v1/search"
APPLE_SEARCH = "/v1/catalog/us/search"


def run(crate, *names: str, concurrency: int | None = None, progress=None) -> service.EnrichmentResult:
    clients = {name: base.source(name) for name in names}
    try:
        return service.run_enrichment(library_id=crate.library_id, clients=clients, concurrency=concurrency,
                                      progress=progress)
    finally:
        for client in clients.values():
            client.close()


def tracks(crate) -> dict[str, Track]:
    with session_scope() as s:
        found = {key: s.get(Track, pk) for key, pk in crate.tracks.items()}
        s.expunge_all()
        return found


def pending(crate, source: str | None = None) -> list[EnrichmentReview]:
    with session_scope() as s:
        query = select(EnrichmentReview).where(EnrichmentReview.status == "pending")
        if source:
            query = query.where(EnrichmentReview.source == source)
        rows = list(s.scalars(query.order_by(EnrichmentReview.id)))
        s.expunge_all()
        return rows


def user(crate) -> User:
    with session_scope() as s:
        found = s.get(User, crate.user_id)
        s.expunge(found)
        return found


def test_exact_matches_are_accepted_ambiguous_go_to_review_and_the_rest_is_no_match(crate):
    seen = []
    result = run(crate, "apple", "spotify", progress=seen.append)

    apple, spotify = result.sources["apple"], result.sources["spotify"]
    assert (apple.to_search, apple.accepted, apple.review, apple.no_match, apple.already_linked) == (4, 2, 1, 1, 1)
    assert (spotify.to_search, spotify.accepted, spotify.review, spotify.no_match) == (5, 1, 0, 4)
    assert apple.errors == spotify.errors == 0 and apple.stopped is None
    assert {t["title"] for t in apple.no_match_tracks} == {"White Label Dub"}
    assert apple.no_match_tracks[0]["why"] == "nothing found"
    assert result.total == result.processed == 9

    t = tracks(crate)
    assert t["midnight"].apple_music_url.startswith("https://music.apple.com/")
    assert t["midnight"].link_origins == {"apple_music_url": "matched"}
    assert t["windowlicker"].spotify_url == "https://open.spotify.com/track/6p5ZtGEw3dzOQ4LhUjB0kX"
    assert t["windowlicker"].link_origins == {"apple_music_url": "matched", "spotify_url": "matched"}
    assert t["strings"].apple_music_url is None and t["unknown"].apple_music_url is None
    # The link set by hand is kept and its track not even searched on that source.
    assert t["remix"].apple_music_url == MANUAL_APPLE_URL and t["remix"].link_origins["apple_music_url"] == "manual"

    (review,) = pending(crate)
    assert review.track_pk == crate.tracks["strings"] and review.source == "apple"
    assert [c["url"] for c in review.candidates][0] == STRINGS_372  # 13 s off beats 15 s off: best first
    assert len(review.candidates) == 2 and review.candidates[0]["score"] > review.candidates[1]["score"]
    assert all(0.5 <= c["score"] < 0.86 for c in review.candidates)
    assert review.candidates[0]["evidence"]["duration_delta_seconds"] == 13.0

    # progress: per track, processed of total, to 100
    processed = [p["processed"] for p in seen if "source" in p]
    assert processed == list(range(1, 10))
    assert seen[-1] == {"stage": "done", "percent": 100, "processed": 9, "total": 9}
    assert any(p.get("stage") == "matching on Apple Music" and 0 < p["percent"] < 100 for p in seen)


def test_a_rerun_skips_linked_and_pending_tracks_and_changes_nothing(crate, fake_apple, fake_spotify):
    run(crate, "apple", "spotify")
    before_apple, before_spotify = len(fake_apple.seen(APPLE_SEARCH)), len(fake_spotify.seen(SPOTIFY_SEARCH))

    again = run(crate, "apple", "spotify")

    apple, spotify = again.sources["apple"], again.sources["spotify"]
    assert (apple.to_search, apple.already_linked, apple.pending_review) == (1, 3, 1)  # only the no-match one
    assert apple.accepted == apple.review == 0 and apple.no_match == 1
    assert (spotify.to_search, spotify.already_linked) == (4, 1)
    assert len(fake_apple.seen(APPLE_SEARCH)) == before_apple + 1
    assert len(fake_spotify.seen(SPOTIFY_SEARCH)) > before_spotify  # the no-match tracks are tried again
    assert len(pending(crate)) == 1


def test_a_link_cleared_by_hand_stays_cleared(crate):
    with session_scope() as s:
        owner = s.get(User, crate.user_id)
        update_track(session=s, user=owner, track_pk=crate.tracks["remix"], changes={"apple_music_url": ""})
    result = run(crate, "apple")
    assert result.sources["apple"].kept_manual == 1 and result.sources["apple"].to_search == 4
    t = tracks(crate)["remix"]
    assert t.apple_music_url is None and t.link_origins == {"apple_music_url": "manual"}


def test_accept_sets_the_best_candidate_and_records_the_choice(crate):
    run(crate, "apple")
    (review,) = pending(crate)
    with session_scope() as s:
        view = service.accept_review(session=s, user=s.get(User, crate.user_id), review_id=review.id)
    assert view.status == "accepted" and view.chosen_index == 0
    assert view.track.current_url == STRINGS_372 and view.track.link_origin == "matched"
    t = tracks(crate)["strings"]
    assert t.apple_music_url == STRINGS_372 and t.link_origins == {"apple_music_url": "matched"}
    with session_scope() as s:
        stored = s.get(EnrichmentReview, review.id)
        assert stored.decided_at is not None and stored.chosen["url"] == STRINGS_372
        with pytest.raises(Conflict) as err:
            service.accept_review(session=s, user=s.get(User, crate.user_id), review_id=review.id)
        assert err.value.code == "review_decided"


def test_choose_another_candidate(crate):
    run(crate, "apple")
    (review,) = pending(crate)
    other = review.candidates[1]["url"]
    with session_scope() as s:
        owner = s.get(User, crate.user_id)
        with pytest.raises(Invalid):
            service.accept_review(session=s, user=owner, review_id=review.id, candidate_index=2)
        view = service.accept_review(session=s, user=owner, review_id=review.id, candidate_index=1)
    assert view.chosen_index == 1 and tracks(crate)["strings"].apple_music_url == other != STRINGS_372


def test_reject_keeps_the_link_empty_and_the_rejected_candidates_are_not_offered_again(crate):
    run(crate, "apple")
    (review,) = pending(crate)
    with session_scope() as s:
        view = service.reject_review(session=s, user=s.get(User, crate.user_id), review_id=review.id)
    assert view.status == "rejected" and tracks(crate)["strings"].apple_music_url is None

    again = run(crate, "apple")
    assert again.sources["apple"].review == 0 and pending(crate) == []
    whys = {t["title"]: t["why"] for t in again.sources["apple"].no_match_tracks}
    assert whys["Strings Of Life"] == "only candidates you rejected"


def test_accept_answers_409_when_the_link_was_set_by_hand_meanwhile(crate):
    run(crate, "apple")
    (review,) = pending(crate)
    by_hand = "https://music.apple.com/us/song/mine/7"
    with session_scope() as s:
        owner = s.get(User, crate.user_id)
        update_track(session=s, user=owner, track_pk=crate.tracks["strings"], changes={"apple_music_url": by_hand})
    with session_scope() as s:
        with pytest.raises(Conflict) as err:
            service.accept_review(session=s, user=s.get(User, crate.user_id), review_id=review.id)
    assert err.value.code == "link_set_by_hand" and "set by hand" in err.value.detail
    assert tracks(crate)["strings"].apple_music_url == by_hand
    assert pending(crate)[0].id == review.id  # still to decide (reject it)


def test_another_users_reviews_are_not_found(crate):
    run(crate, "apple")
    (review,) = pending(crate)
    with session_scope() as s:
        other = User(username="mallory", password_hash="x")
        s.add(other)
        s.flush()
        assert service.list_reviews(session=s, user=other).total == 0
        for call in (service.accept_review, service.reject_review, service.get_review):
            with pytest.raises(NotFound):
                call(session=s, user=other, review_id=review.id)
        with pytest.raises(NotFound):
            service.list_reviews(session=s, user=other, library_id=crate.library_id)
    with session_scope() as s:
        page = service.list_reviews(session=s, user=s.get(User, crate.user_id), source="apple")
        assert page.total == 1 and page.items[0].track.title == "Strings Of Life"
        assert page.items[0].candidates[0].explanation[:3] == ["Artist matches", "Title matches",
                                                               "Duration differs by 13 s"]
        assert service.list_reviews(session=s, user=s.get(User, crate.user_id), source="spotify").total == 0


def test_a_failing_track_is_counted_and_the_job_goes_on(crate, fake_apple):
    fake_apple.fault(APPLE_SEARCH, "shape")  # the first track's search answers JSON of another shape
    result = run(crate, "apple", concurrency=1)
    apple = result.sources["apple"]
    assert apple.errors == 1 and apple.stopped is None and apple.searched == 3
    assert "Apple Music" in apple.last_error
    with session_scope() as s:
        errors = service.last_errors(session=s)
    assert errors["apple"]["last_error"] == apple.last_error and errors["apple"]["last_error_at"] is not None
    assert errors["apple"]["last_ok_at"] is not None


def test_an_auth_error_stops_that_source_with_the_reason_and_the_others_run(crate, fake_spotify):
    fake_spotify.fault(SPOTIFY_SEARCH, "401", "401")
    result = run(crate, "apple", "spotify", concurrency=1)
    spotify = result.sources["spotify"]
    assert spotify.stopped and "SPOTIFY_CLIENT_SECRET" in spotify.stopped and spotify.searched == 0
    assert result.sources["apple"].accepted == 2
    assert result.processed == result.total == 9
    with session_scope() as s:
        health = {h.name: h for h in service.source_health(session=s)}
    assert health["spotify"].last_error == spotify.stopped and health["spotify"].configured
    assert health["spotify"].last_ok_at is None


def test_source_names_are_checked_and_unconfigured_sources_explained(monkeypatch, fake_spotify):
    assert service.parse_sources("Spotify, apple,spotify") == ["spotify", "apple"]
    assert service.parse_sources("") == base.names()
    with pytest.raises(Invalid) as err:
        service.parse_sources("spotify,tidal")
    assert err.value.code == "unknown_source"
    with pytest.raises(SourceNotConfigured) as err:
        service.require_configured(["spotify", "apple"])
    assert err.value.code == "source_not_configured" and "APPLE_MUSIC_TEAM_ID" in err.value.detail


def test_only_writable_libraries_can_be_matched(crate):
    from services.common.models import Library

    with session_scope() as s:
        owner = s.get(User, crate.user_id)
        friend = Library(owner_id=owner.id, name="pal's collection", is_friend=True, discogs_username="pal")
        s.add(friend)
        s.flush()
        from services.domain.errors import Forbidden

        with pytest.raises(Forbidden):
            service.start_enrichment(session=s, user=owner, library_id=friend.id, sources="apple")


def test_evidence_in_words():
    words = service.explain({"artist_similarity": 1.0, "title_similarity": 0.9, "version": "mismatch",
                             "query_tags": [], "candidate_tags": ["remix"], "duration_delta_seconds": 2.0,
                             "isrc_equal": True, "album_similarity": None, "incomparable_scripts": False})
    assert words == ["Artist matches", "Title nearly matches (90%)", "Duration within 2 s",
                     "Other version: original vs remix", "Same ISRC (recording code)"]
    assert "cannot be compared" in service.explain({"artist_similarity": None})[0]
