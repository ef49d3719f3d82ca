"""Connecting a Spotify account and exporting playlists to it, against the fake accounts service and Web API
(tests/fakes/catalogs.py: FakeSpotifyAccounts)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from services.common import db as common_db
from services.common.models import Library, Playlist, PlaylistTrack, SpotifyConnection, SpotifyPlaylistExport, Track, User
from services.common.settings import get_settings
from services.domain.accounts.security import secret_key
from services.domain.enrichment import spotify_account as spotify
from services.domain.enrichment.sources.base import CatalogError, SourceNotConfigured
from services.domain.enrichment.sources.tokens import TOKENS
from services.domain.errors import NotFound
from tests.fakes.clock import FakeClock
from tests.fakes.catalogs import FakeSpotifyAccounts

CLIENT_ID = "spotify-connect-client-0001"
CLIENT_SECRET = "spotify-connect-secret-Zq8vN3kLw"
REDIRECT_URI = "http://testserver/api/spotify/callback"
TOKEN, ME, CREATE = "/api/token", "/v1/me", "/v1/me/playlists"
ENV = ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_REDIRECT_URI", "SPOTIFY_ACCOUNTS_URL", "SPOTIFY_API_URL")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


def spotify_fake(monkeypatch) -> Iterator[FakeSpotifyAccounts]:
    """The fake Spotify, and settings pointing at it (three attempts, small backoff, a 60 s Retry-After cap).
    Shared with tests/web/test_spotify_api.py."""
    with FakeSpotifyAccounts(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT_URI],
                             login_as="djuser", display_name="DJ User") as fake:
        for name, value in {"SPOTIFY_CLIENT_ID": CLIENT_ID, "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
                            "SPOTIFY_REDIRECT_URI": REDIRECT_URI, "SPOTIFY_ACCOUNTS_URL": fake.base_url,
                            "SPOTIFY_API_URL": fake.base_url, "ENRICHMENT_TIMEOUT_SECONDS": "2",
                            "ENRICHMENT_MAX_ATTEMPTS": "3", "ENRICHMENT_BACKOFF_SECONDS": "0.01",
                            "ENRICHMENT_MAX_RETRY_AFTER_SECONDS": "60"}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        TOKENS.clear()
        yield fake
        TOKENS.clear()
        get_settings.cache_clear()


@pytest.fixture
def fake_accounts(monkeypatch) -> Iterator[FakeSpotifyAccounts]:
    yield from spotify_fake(monkeypatch)


def make_client(clock: FakeClock) -> spotify.SpotifyUserClient:
    return spotify.SpotifyUserClient.from_config(spotify.require_config(), sleep=clock.sleep, clock=clock)


def browser_consent(url: str) -> tuple[str | None, str | None, str]:
    """What the browser does at Spotify's consent page: follow it and read the redirect back to us."""
    answer = httpx.get(url, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    query = parse_qs(urlsplit(location).query)
    return query.get("code", [None])[0], query.get("state", [None])[0], location


def add_user(session, username: str) -> User:
    user = User(username=username, password_hash="x")
    session.add(user)
    session.flush()
    return user


def add_playlist(session, user: User, links: list[str | None], *, name: str = "Friday set") -> Playlist:
    library = Library(owner_id=user.id, name=f"crate {len(links)} {name}")
    session.add(library)
    session.flush()
    playlist = Playlist(owner_id=user.id, name=name, description="Warm-up\nthen peak")
    session.add(playlist)
    session.flush()
    for i, link in enumerate(links):
        track = Track(track_id=f"{i}-A1", library_id=library.id, title=f"Track {i}", artist=f"Artist {i}",
                      spotify_url=link)
        session.add(track)
        session.flush()
        session.add(PlaylistTrack(playlist_id=playlist.id, track_pk=track.id, position=i))
    session.flush()
    return playlist


def sid(i: int) -> str:
    return f"trk{i:019d}"  # a 22-character Spotify id


def link(i: int) -> str:
    return f"https://open.spotify.com/track/{sid(i)}?si=abc{i}"


def connect(session, user: User, clock: FakeClock) -> SpotifyConnection:
    code, state, _ = browser_consent(spotify.authorization_url(user=user, clock=clock))
    return spotify.complete_connection(session=session, user=user, code=code, state=state, client=make_client(clock),
                                       clock=clock)


@pytest.fixture
def dj(clean_db, fake_accounts, clock) -> Iterator[tuple[int, int]]:
    """A user with a committed Spotify connection and a playlist of 3 tracks (2 with a link): (user id, playlist id)."""
    with common_db.session_scope() as s:
        user = add_user(s, "dj")
        playlist = add_playlist(s, user, [link(1), None, link(2)])
        connect(s, user, clock)
        ids = user.id, playlist.id
    yield ids


def export(user_id: int, playlist_id: int, clock: FakeClock, **kwargs) -> spotify.ExportResult:
    with common_db.session_scope() as s:
        return spotify.export_playlist(session=s, user=s.get(User, user_id), playlist_id=playlist_id,
                                       client=make_client(clock), clock=clock, **kwargs)


def stored(user_id: int) -> SpotifyConnection | None:
    with common_db.session_scope() as s:
        conn = s.scalar(select(SpotifyConnection).where(SpotifyConnection.user_id == user_id))
        if conn is not None:
            s.expunge(conn)
        return conn


# -- connecting -------------------------------------------------------------------------------------------------

def test_connect_flow_stores_who_connected_and_the_refresh_token_encrypted(clean_db, fake_accounts, clock):
    with common_db.session_scope() as s:
        user = add_user(s, "dj")
        url = spotify.authorization_url(user=user, clock=clock)
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{fake_accounts.base_url}/authorize?")
        assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
        assert query["redirect_uri"] == [REDIRECT_URI]
        assert query["scope"] == ["playlist-modify-private playlist-modify-public"]
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43

        code, state, location = browser_consent(url)
        assert location.startswith(REDIRECT_URI) and state == query["state"][0]
        conn = spotify.complete_connection(session=s, user=user, code=code, state=state, client=make_client(clock),
                                           clock=clock)
        assert (conn.spotify_user_id, conn.display_name, conn.status) == ("djuser", "DJ User", "connected")
        user_id = user.id

    (exchange,) = [r for r in fake_accounts.seen(TOKEN)]
    form = parse_qs(exchange.body.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code"] == [code]
    assert form["redirect_uri"] == [REDIRECT_URI] and len(form["code_verifier"][0]) == 43  # the fake checked it
    assert fake_accounts.seen(ME)[0].headers["authorization"].startswith("Bearer ")

    (refresh_token,) = fake_accounts.refresh_tokens
    with common_db.session_scope() as s:
        raw = s.execute(text("SELECT refresh_token_encrypted FROM spotify_connections WHERE user_id = :u"),
                        {"u": user_id}).scalar_one()
    assert refresh_token not in raw and refresh_token[:12] not in raw
    assert spotify.decrypt_token(raw) == refresh_token

    with common_db.session_scope() as s:
        status = spotify.connection_status(session=s, user=s.get(User, user_id))
    assert status.connected and status.status == "connected" and status.display_name == "DJ User"


def test_a_forged_expired_or_other_users_state_is_refused(clean_db, fake_accounts, clock):
    with common_db.session_scope() as s:
        alice, mallory = add_user(s, "alice"), add_user(s, "mallory")
        code, state, _ = browser_consent(spotify.authorization_url(user=alice, clock=clock))

        def complete(user, state_value, at=None):
            return spotify.complete_connection(session=s, user=user, code=code, state=state_value,
                                               client=make_client(clock), clock=at or clock)

        with pytest.raises(spotify.SpotifyStateInvalid, match="another user"):
            complete(mallory, state)  # alice's state in mallory's session (login CSRF)
        with pytest.raises(spotify.SpotifyStateInvalid, match="state mismatch"):
            complete(alice, state[:-2] + ("AA" if not state.endswith("AA") else "BB"))
        with pytest.raises(spotify.SpotifyStateInvalid, match="no state"):
            complete(alice, None)
        later = FakeClock(start=time.time())
        later.now = clock.now + spotify.STATE_MAX_AGE + 1
        with pytest.raises(spotify.SpotifyStateInvalid, match="longer than 10 minutes"):
            complete(alice, state, later)
        assert s.scalar(select(SpotifyConnection)) is None
        assert fake_accounts.seen(TOKEN) == []  # no code was exchanged for a bad state

        complete(alice, state)  # the right user, in time
        with pytest.raises(spotify.SpotifyAuthorizationRefused, match="expired or been used already"):
            complete(alice, state)  # a code works once


def test_declining_on_spotify_says_so(clean_db, fake_accounts, clock):
    fake_accounts.deny = True
    with common_db.session_scope() as s:
        user = add_user(s, "dj")
        code, state, location = browser_consent(spotify.authorization_url(user=user, clock=clock))
        assert code is None and "error=access_denied" in location
        with pytest.raises(spotify.SpotifyAuthorizationRefused, match="you did not allow access"):
            spotify.complete_connection(session=s, user=user, code=None, state=state, error="access_denied",
                                        client=make_client(clock), clock=clock)


def test_not_configured_names_what_is_missing(clean_db, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "only-the-id")
    get_settings.cache_clear()
    try:
        ok, reason = spotify.configured()
        assert not ok and "SPOTIFY_CLIENT_SECRET, SPOTIFY_REDIRECT_URI" in reason and "only-the-id" not in reason
        with pytest.raises(SourceNotConfigured) as raised:
            spotify.authorization_url(user=User(id=1))
        assert raised.value.code == "source_not_configured"
        with common_db.session_scope() as s:
            user = add_user(s, "dj")
            playlist = add_playlist(s, user, [link(1)])
            with pytest.raises(SourceNotConfigured):
                spotify.export_playlist(session=s, user=user, playlist_id=playlist.id)
    finally:
        get_settings.cache_clear()


def test_disconnect_deletes_the_stored_token(dj):
    user_id, _ = dj
    with common_db.session_scope() as s:
        assert spotify.disconnect(session=s, user=s.get(User, user_id)) is True
        assert spotify.disconnect(session=s, user=s.get(User, user_id)) is False
    assert stored(user_id) is None
    assert "spotify.com/account/apps" in spotify.REVOKE_HINT


# -- tokens ------------------------------------------------------------------------------------------------------

def grants(fake: FakeSpotifyAccounts) -> list[str]:
    return [parse_qs(r.body.decode())["grant_type"][0] for r in fake.seen(TOKEN)]


def test_the_access_token_is_refreshed_when_it_expires_and_a_rotated_refresh_token_is_stored(dj, fake_accounts, clock):
    user_id, playlist_id = dj
    export(user_id, playlist_id, clock)
    assert grants(fake_accounts) == ["authorization_code"]  # the token from the code exchange is used

    fake_accounts.rotate_refresh = True
    (old_refresh,) = fake_accounts.refresh_tokens
    clock.now += 3600 - spotify.RENEW_BEFORE_SECONDS + 1  # within a minute of expiry: refresh first
    export(user_id, playlist_id, clock)
    assert grants(fake_accounts) == ["authorization_code", "refresh_token"]
    assert parse_qs(fake_accounts.seen(TOKEN)[-1].body.decode())["refresh_token"] == [old_refresh]
    (new_refresh,) = fake_accounts.refresh_tokens
    assert new_refresh != old_refresh
    assert spotify.decrypt_token(stored(user_id).refresh_token_encrypted) == new_refresh

    export(user_id, playlist_id, clock)  # the refreshed token is cached
    assert grants(fake_accounts) == ["authorization_code", "refresh_token"]


def test_a_rotated_refresh_token_is_kept_even_when_the_export_then_fails(dj, fake_accounts, clock):
    user_id, playlist_id = dj
    fake_accounts.rotate_refresh = True
    clock.now += 3600
    fake_accounts.fault(CREATE, "500", "500", "500")
    with pytest.raises(CatalogError, match="server error 500"):
        export(user_id, playlist_id, clock)
    (new_refresh,) = fake_accounts.refresh_tokens
    assert spotify.decrypt_token(stored(user_id).refresh_token_encrypted) == new_refresh
    assert export(user_id, playlist_id, clock).added == 2  # and it works


def test_a_401_refreshes_the_token_once(dj, fake_accounts, clock):
    user_id, playlist_id = dj
    fake_accounts.expire_tokens()  # Spotify says "The access token expired" before our clock does
    assert export(user_id, playlist_id, clock).added == 2
    assert grants(fake_accounts) == ["authorization_code", "refresh_token"]


def test_a_refresh_answered_invalid_grant_marks_the_connection_broken(dj, fake_accounts, clock):
    user_id, playlist_id = dj
    fake_accounts.revoke_app("djuser")  # removed at spotify.com/account/apps
    clock.now += 3600
    with pytest.raises(spotify.SpotifyConnectionBroken, match="connect your Spotify account again") as raised:
        export(user_id, playlist_id, clock)
    assert raised.value.code == "spotify_connection_broken"
    conn = stored(user_id)
    assert conn.status == "broken" and "spotify.com/account/apps" in conn.error

    asked = len(fake_accounts.seen(TOKEN))
    with pytest.raises(spotify.SpotifyConnectionBroken):
        export(user_id, playlist_id, clock)
    assert len(fake_accounts.seen(TOKEN)) == asked  # a broken connection is not tried again
    with common_db.session_scope() as s:
        status = spotify.connection_status(session=s, user=s.get(User, user_id))
    assert status.status == "broken" and status.error == conn.error


def test_a_changed_secret_key_makes_the_stored_token_unreadable_not_a_crash(dj, fake_accounts, clock, monkeypatch):
    user_id, playlist_id = dj
    monkeypatch.setenv("SECRET_KEY", "another-secret-key")
    get_settings.cache_clear()
    secret_key.cache_clear()
    try:
        clock.now += 3600
        with pytest.raises(spotify.SpotifyConnectionBroken, match="SECRET_KEY changed"):
            export(user_id, playlist_id, clock)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        secret_key.cache_clear()
    assert stored(user_id).status == "broken"


# -- export ------------------------------------------------------------------------------------------------------

def test_export_creates_a_private_playlist_in_batches_of_100_and_reports_skipped_tracks(clean_db, fake_accounts,
                                                                                        clock):
    links = [link(i) for i in range(150)]
    links[3] = None
    links[40] = "https://open.spotify.com/album/1ATL5GLyefJaxhQzSPVrLX"  # not a track
    links.insert(120, None)
    with common_db.session_scope() as s:
        user = add_user(s, "dj")
        playlist = add_playlist(s, user, links)
        connect(s, user, clock)
        ids = user.id, playlist.id

    result = export(*ids, clock)

    assert result.created and result.name == "Friday set" and result.added == 148
    assert [(k.position, k.title, k.reason) for k in result.skipped] == [
        (3, "Track 3", "no Spotify link"), (40, "Track 40", "the Spotify link is not a track link"),
        (120, "Track 120", "no Spotify link")]
    (create,) = fake_accounts.seen(CREATE)
    assert create.method == "POST"
    sent = fake_accounts.playlists[result.spotify_playlist_id]
    assert (sent["name"], sent["public"], sent["owner"]) == ("Friday set", False, "djuser")
    assert sent["description"] == "Warm-up then peak"
    adds = fake_accounts.seen(f"/v1/playlists/{result.spotify_playlist_id}/tracks")
    assert [(r.method, len(json.loads(r.body)["uris"])) for r in adds] == [("POST", 100), ("POST", 48)]
    expected = [f"spotify:track:{sid(i)}" for i in range(150) if i not in (3, 40)]
    assert sent["uris"] == expected
    assert result.url == f"https://open.spotify.com/playlist/{result.spotify_playlist_id}"
    with common_db.session_scope() as s:
        row = s.scalar(select(SpotifyPlaylistExport))
        assert (row.playlist_id, row.spotify_playlist_id, row.track_count) == (ids[1], result.spotify_playlist_id, 148)


def test_exporting_again_replaces_the_items_of_the_same_spotify_playlist(clean_db, fake_accounts, clock):
    with common_db.session_scope() as s:
        user = add_user(s, "dj")
        playlist = add_playlist(s, user, [link(i) for i in range(130)])
        connect(s, user, clock)
        ids = user.id, playlist.id
    first = export(*ids, clock, name="  My   export ", public=True)
    assert first.name == "My export" and fake_accounts.playlists[first.spotify_playlist_id]["public"] is True

    with common_db.session_scope() as s:  # the playlist changes: reversed, 110 tracks
        s.execute(text("DELETE FROM playlist_tracks WHERE playlist_id = :p AND position >= 110"), {"p": ids[1]})
        s.execute(text("UPDATE playlist_tracks SET position = 1000 - position WHERE playlist_id = :p"), {"p": ids[1]})
    second = export(*ids, clock, name="Renamed set")  # private now, and renamed: the details follow

    assert second.spotify_playlist_id == first.spotify_playlist_id and not second.created
    details = fake_accounts.playlists[first.spotify_playlist_id]
    assert (second.name, details["name"], details["public"]) == ("Renamed set", "Renamed set", False)
    assert len(fake_accounts.seen(CREATE)) == 1 and len(fake_accounts.playlists) == 1
    writes = fake_accounts.seen(f"/v1/playlists/{first.spotify_playlist_id}/tracks")[2:]
    assert [(r.method, len(json.loads(r.body)["uris"])) for r in writes] == [("PUT", 100), ("POST", 10)]
    assert fake_accounts.playlists[first.spotify_playlist_id]["uris"] == [
        f"spotify:track:{sid(i)}" for i in reversed(range(110))]


def test_a_spotify_playlist_gone_since_the_last_export_is_made_again(dj, fake_accounts, clock):
    user_id, playlist_id = dj
    first = export(user_id, playlist_id, clock)
    del fake_accounts.playlists[first.spotify_playlist_id]
    second = export(user_id, playlist_id, clock)
    assert second.created and second.spotify_playlist_id != first.spotify_playlist_id
    with common_db.session_scope() as s:
        assert s.scalar(select(SpotifyPlaylistExport.spotify_playlist_id)) == second.spotify_playlist_id


def test_a_429_waits_the_retry_after_through_the_shared_client(dj, fake_accounts, clock):
    user_id, playlist_id = dj
    fake_accounts.fault(CREATE, "429:7")
    assert export(user_id, playlist_id, clock).added == 2
    assert clock.sleeps == [7.0] and len(fake_accounts.seen(CREATE)) == 2


def test_not_connected_and_other_users_playlists(dj, clock):
    user_id, playlist_id = dj
    with common_db.session_scope() as s:
        other = add_user(s, "other")
        mine = add_playlist(s, other, [link(1)])
        with pytest.raises(spotify.SpotifyNotConnected) as raised:
            spotify.export_playlist(session=s, user=other, playlist_id=mine.id, client=make_client(clock))
        assert raised.value.code == "spotify_not_connected"
        with pytest.raises(NotFound):
            spotify.export_playlist(session=s, user=other, playlist_id=playlist_id, client=make_client(clock))


def test_secrets_never_reach_logs_or_errors(clean_db, fake_accounts, clock, caplog):
    with common_db.session_scope() as s:
        user = add_user(s, "dj")
        playlist = add_playlist(s, user, [link(1)])
        code, state, _ = browser_consent(spotify.authorization_url(user=user, clock=clock))  # the browser's part
        caplog.set_level(logging.DEBUG)  # from here on: everything the app logs, down to httpx/httpcore
        fake_accounts.fault(TOKEN, "503")  # a retry is logged
        spotify.complete_connection(session=s, user=user, code=code, state=state, client=make_client(clock),
                                    clock=clock)
        ids = user.id, playlist.id
    fake_accounts.rotate_refresh = True
    clock.now += 3600
    fake_accounts.fault(CREATE, "500", "500", "500")
    with pytest.raises(CatalogError) as failed:
        export(*ids, clock)
    issued_tokens = {*fake_accounts.user_tokens, *fake_accounts.refresh_tokens}
    fake_accounts.revoke_app("djuser")
    clock.now += 3600
    with pytest.raises(spotify.SpotifyConnectionBroken) as broken:
        export(*ids, clock)

    assert "retry" in caplog.text  # the retries were logged...
    issued = [r.body.decode() for r in fake_accounts.requests if r.path == TOKEN]
    secrets_seen = {CLIENT_SECRET, code, *issued_tokens}
    assert len(issued_tokens) == 3  # two access tokens (code exchange, refresh) and the rotated refresh token
    for body in issued:
        secrets_seen.update(v[0] for k, v in parse_qs(body).items() if k in ("refresh_token", "code"))
    text_out = caplog.text + str(failed.value) + str(broken.value) + failed.value.detail + broken.value.detail
    for secret in secrets_seen:
        assert secret not in text_out  # ...without a secret


def test_track_links_to_uris():
    uri = spotify.spotify_track_uri
    assert uri("https://open.spotify.com/track/6p5ZtGEw3dzOQ4LhUjB0kX") == "spotify:track:6p5ZtGEw3dzOQ4LhUjB0kX"
    assert uri("https://open.spotify.com/intl-de/track/6p5ZtGEw3dzOQ4LhUjB0kX?si=x") == \
        "spotify:track:6p5ZtGEw3dzOQ4LhUjB0kX"
    assert uri(" spotify:track:6p5ZtGEw3dzOQ4LhUjB0kX ") == "spotify:track:6p5ZtGEw3dzOQ4LhUjB0kX"
    assert uri("https://open.spotify.com/album/6p5ZtGEw3dzOQ4LhUjB0kX") is None
    assert uri("https://open.spotify.com/track/short") is None
    assert uri("https://evil.example/track/6p5ZtGEw3dzOQ4LhUjB0kX") is None
    assert uri(None) is None and uri("") is None

