"""The Spotify connection and export over HTTP (API and pages), against the fake Spotify
(tests/fakes/catalogs.py: FakeSpotifyAccounts): the browser's round trip is followed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from services.common import db as common_db
from services.common.models import SpotifyConnection, User
from services.common.settings import get_settings
from tests.domain.enrichment.test_spotify_account import ENV, add_playlist, link, sid, spotify_fake
from tests.fakes.catalogs import FakeSpotifyAccounts


@pytest.fixture
def fake_accounts(monkeypatch) -> Iterator[FakeSpotifyAccounts]:
    yield from spotify_fake(monkeypatch)


def consent(client, **headers) -> str:
    """Connect → Spotify's consent page (the fake agrees) → the callback URL on our site (path and query)."""
    start = client.get("/api/spotify/connect", follow_redirects=False, headers=headers)
    assert start.status_code == 303, start.text
    at_spotify = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_spotify.status_code == 303, at_spotify.text
    back = urlsplit(at_spotify.headers["location"])
    assert (back.scheme, back.netloc, back.path) == ("http", "testserver", "/api/spotify/callback")
    return f"{back.path}?{back.query}"


def connect(client) -> None:
    done = client.get(consent(client), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/settings/connections?spotify=connected"


def playlist_for(client, links) -> int:
    with common_db.session_scope() as s:
        return add_playlist(s, s.get(User, client.user_id), links).id


def test_connect_flow_and_status(make_user, fake_accounts):
    dj = make_user("dj")
    assert dj.get("/api/spotify/connection").json()["connected"] is False

    start = dj.get("/api/spotify/connect", follow_redirects=False)
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["scope"] == ["playlist-modify-private playlist-modify-public"]
    assert query["redirect_uri"] == ["http://testserver/api/spotify/callback"]
    connect(dj)

    status = dj.get("/api/spotify/connection").json()
    assert status["connected"] and status["status"] == "connected"
    assert (status["spotify_user_id"], status["display_name"]) == ("djuser", "DJ User")
    assert "spotify.com/account/apps" in status["revoke_hint"]
    (refresh_token,) = fake_accounts.refresh_tokens
    with common_db.session_scope() as s:
        raw = s.execute(text("SELECT refresh_token_encrypted FROM spotify_connections")).scalar_one()
    assert refresh_token not in raw

    page = dj.get("/settings/connections?spotify=connected")
    assert page.status_code == 200
    assert "Spotify is connected" in page.text and "Connected as <strong>DJ User</strong>" in page.text
    assert "spotify.com/account/apps" in page.text


def test_state_mismatch_and_another_users_state_are_refused(make_user, fake_accounts):
    alice, mallory = make_user("alice"), make_user("mallory")
    callback = consent(alice)
    path, _, query = callback.partition("?")
    params = parse_qs(query)

    stolen = mallory.get(callback, follow_redirects=False)  # alice's consent finished in mallory's session
    assert stolen.status_code == 400
    assert stolen.json()["code"] == "spotify_state_invalid" and "another user" in stolen.json()["detail"]

    forged = alice.get(path, params={"code": params["code"][0], "state": "forged.state"}, follow_redirects=False)
    assert forged.status_code == 400 and forged.json()["code"] == "spotify_state_invalid"
    missing = alice.get(path, params={"code": params["code"][0]}, follow_redirects=False)
    assert missing.status_code == 400

    page = alice.get(path, params={"code": params["code"][0], "state": "x"}, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "<html" in page.text and "state mismatch" in page.text

    with common_db.session_scope() as s:
        assert s.scalar(select(SpotifyConnection)) is None
    assert [r for r in fake_accounts.seen("/api/token")] == []  # nothing exchanged for a bad state
    assert alice.get(callback, follow_redirects=False).status_code == 303  # alice's own state still works


def test_declined_on_spotify(make_user, fake_accounts):
    dj = make_user("dj")
    fake_accounts.deny = True
    answer = dj.get(consent(dj), follow_redirects=False)
    assert answer.headers["location"] == "/settings/connections?spotify=denied"
    assert "access was not allowed" in dj.get(answer.headers["location"]).text


def test_not_configured_is_a_409_with_the_reason(make_user, monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    dj = make_user("dj")
    playlist_id = playlist_for(dj, [link(1)])

    for answer in (dj.get("/api/spotify/connect", follow_redirects=False),
                   dj.post(f"/api/playlists/{playlist_id}/spotify")):
        assert answer.status_code == 409
        assert answer.json()["code"] == "source_not_configured"
        assert "SPOTIFY_REDIRECT_URI" in answer.json()["detail"]
    status = dj.get("/api/spotify/connection").json()
    assert status["configured"] is False and "SPOTIFY_CLIENT_ID" in status["reason"]
    page = dj.get("/settings/connections")
    assert "SPOTIFY_CLIENT_ID" in page.text and "data-spotify-connect" not in page.text
    get_settings.cache_clear()


def test_export_reports_added_and_skipped_and_exporting_again_updates(make_user, fake_accounts):
    dj = make_user("dj")
    playlist_id = playlist_for(dj, [link(i) for i in range(105)] + [None])

    not_connected = dj.post(f"/api/playlists/{playlist_id}/spotify")
    assert not_connected.status_code == 409 and not_connected.json()["code"] == "spotify_not_connected"

    connect(dj)
    first = dj.post(f"/api/playlists/{playlist_id}/spotify", json={"name": "Sunday", "public": True})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["created"] and body["name"] == "Sunday" and body["added"] == 105 and body["skipped_count"] == 1
    assert body["skipped"] == [{"position": 105, "track_pk": body["skipped"][0]["track_pk"], "artist": "Artist 105",
                                "title": "Track 105", "reason": "no Spotify link"}]
    made = fake_accounts.playlists[body["spotify_playlist_id"]]
    assert made["public"] is True and made["uris"] == [f"spotify:track:{sid(i)}" for i in range(105)]

    again = dj.post(f"/api/playlists/{playlist_id}/spotify").json()  # no body: defaults
    assert again["spotify_playlist_id"] == body["spotify_playlist_id"] and again["created"] is False
    assert [r.method for r in fake_accounts.seen(f"/v1/playlists/{body['spotify_playlist_id']}/tracks")] == [
        "POST", "POST", "PUT", "POST"]
    assert len(fake_accounts.playlists) == 1

    assert dj.post(f"/api/playlists/{playlist_id}/spotify", json={"name": ""}).status_code == 422


def test_other_users_playlists_are_not_found(make_user, fake_accounts):
    alice, bob = make_user("alice"), make_user("bob")
    playlist_id = playlist_for(alice, [link(1)])
    connect(bob)
    assert bob.post(f"/api/playlists/{playlist_id}/spotify").status_code == 404
    assert bob.get(f"/playlists/{playlist_id}/spotify").status_code == 404


def test_a_broken_connection_is_a_409_saying_to_connect_again(make_user, fake_accounts):
    dj = make_user("dj")
    playlist_id = playlist_for(dj, [link(1)])
    connect(dj)
    fake_accounts.revoke_app("djuser")
    fake_accounts.expire_tokens()  # the next call is answered 401, the refresh invalid_grant
    answer = dj.post(f"/api/playlists/{playlist_id}/spotify")
    assert answer.status_code == 409 and answer.json()["code"] == "spotify_connection_broken"
    assert "connect your Spotify account again" in answer.json()["detail"]
    assert dj.get("/api/spotify/connection").json()["status"] == "broken"
    assert "Connect again" in dj.get("/settings/connections").text


def test_disconnect(make_user, fake_accounts):
    dj = make_user("dj")
    connect(dj)
    gone = dj.delete("/api/spotify/connection")
    assert gone.status_code == 200 and gone.json()["disconnected"] is True
    assert "spotify.com/account/apps" in gone.json()["detail"]
    assert dj.get("/api/spotify/connection").json()["connected"] is False
    assert dj.delete("/api/spotify/connection").json()["disconnected"] is False


def test_requires_sign_in(client):
    for method, path in (("GET", "/api/spotify/connect"), ("GET", "/api/spotify/callback?code=x&state=y"),
                         ("GET", "/api/spotify/connection"), ("DELETE", "/api/spotify/connection"),
                         ("POST", "/api/playlists/1/spotify")):
        assert client.request(method, path, follow_redirects=False).status_code == 401, path


# -- pages --------------------------------------------------------------------------------------------------------

HX = {"HX-Request": "true"}


def test_connections_page_connect_and_disconnect(make_user, fake_accounts):
    dj = make_user("dj")
    page = dj.get("/settings/connections")
    assert 'href="/api/spotify/connect"' in page.text and 'hx-boost="false"' in page.text
    assert 'data-spotify-state="not-connected"' in page.text
    connect(dj)
    section = dj.get("/settings/connections/spotify", headers=HX)
    assert "Connected as" in section.text and 'id="spotify-connect"' in section.text
    out = dj.post("/settings/connections/spotify/disconnect", headers=HX)
    assert out.status_code == 200 and "Spotify disconnected" in out.text and "Connect Spotify" in out.text
    assert dj.get("/api/spotify/connection").json()["connected"] is False


def test_playlist_export_panel(make_user, fake_accounts):
    dj = make_user("dj")
    playlist_id = playlist_for(dj, [link(1), None, link(2)])
    panel = dj.get(f"/playlists/{playlist_id}/spotify", headers=HX)
    assert "Settings → Connections" in panel.text and "data-spotify-export" not in panel.text

    connect(dj)
    panel = dj.get(f"/playlists/{playlist_id}/spotify", headers=HX)
    assert "2 of 3 tracks have a Spotify link" in panel.text and "data-spotify-export" in panel.text
    done = dj.post(f"/playlists/{playlist_id}/spotify", data={"name": "Set", "public": "true"}, headers=HX)
    assert done.status_code == 200
    assert "Created “Set” on Spotify" in done.text and 'data-spotify-skipped="1"' in done.text
    assert "Export again" in done.text
    (made,) = fake_accounts.playlists.values()
    assert made["public"] is True and made["name"] == "Set"

    fake_accounts.revoke_app("djuser")
    fake_accounts.expire_tokens()
    failed = dj.post(f"/playlists/{playlist_id}/spotify", headers=HX)
    assert failed.status_code == 409 and "connect your Spotify account again" in failed.json()["detail"]


@pytest.mark.parametrize("include", ["_spotify_connect.html", "_spotify_export.html"])
def test_partials_load_themselves_when_included_without_data(include):
    from types import SimpleNamespace

    from services.web.ui.templates import templates

    html = templates.env.get_template(include).render(playlist=SimpleNamespace(id=7))
    assert 'hx-trigger="load"' in html
    assert ('hx-get="/settings/connections/spotify"' in html) or ('hx-get="/playlists/7/spotify"' in html)
