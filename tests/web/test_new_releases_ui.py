"""The library page's "New releases" section: findings listed, a check started from the page (htmx partial)
for the owner with a token, no button for a reader without one."""

from __future__ import annotations

from services.common.db import get_redis, session_scope
from services.common.models import Library, LibraryShare, NewRelease
from services.domain import jobs


def test_library_page_lists_new_releases_and_starts_a_check(make_user, discogs_env):
    alice, bob = make_user("alice", is_admin=True), make_user("bob")
    jobs.queue(jobs.SYNC_QUEUE).empty()
    for key in get_redis().scan_iter("djp:new-releases:*"):
        get_redis().delete(key)
    with session_scope() as s:
        lib = Library(owner_id=alice.user_id, name="Alice's records", discogs_username="digger")
        s.add(lib)
        s.flush()
        s.add(LibraryShare(library_id=lib.id, user_id=bob.user_id))
        s.add(NewRelease(library_id=lib.id, artist_id=1005, artist_name="Artist 5", kind="release", discogs_id=9001,
                         title="Brand <New> EP", year=2024, label="Some Label", format='12", EP',
                         url="https://www.discogs.com/release/9001"))
        library_id = lib.id

    page = alice.get(f"/libraries/{library_id}")
    assert page.status_code == 200 and 'id="new-releases"' in page.text
    assert "Brand &lt;New&gt; EP" in page.text and "https://www.discogs.com/release/9001" in page.text
    assert 'id="check-new-releases"' in page.text

    started = alice.post(f"/libraries/{library_id}/new-releases/check", headers={"HX-Request": "true"})
    assert started.status_code == 200 and "Checking Discogs" in started.text
    assert 'hx-trigger="every 2s"' in started.text  # polls while the check runs
    polled = alice.get(f"/libraries/{library_id}/new-releases")
    assert polled.status_code == 200 and "Checking Discogs" in polled.text

    shared = bob.get(f"/libraries/{library_id}")  # a reader sees the findings, cannot start a check
    assert "Brand &lt;New&gt; EP" in shared.text and 'id="check-new-releases"' not in shared.text
    refused = bob.post(f"/libraries/{library_id}/new-releases/check", headers={"HX-Request": "true"})
    assert refused.status_code == 403
