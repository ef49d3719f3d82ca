"""The album list: every sort it offers is served by an index (revision 0018), and pages keep that order."""

from __future__ import annotations

from typing import get_args

import pytest
from sqlalchemy import text

from services.common.db import get_engine
from services.common.models import Album
from services.domain.collection.albums import AlbumSort, list_albums
from tests.statements import captured_statements


def _album(lib_id: int, n: int, **values) -> Album:
    return Album(library_id=lib_id, release_id=n, title=f"Album {n:02d}", artist=f"Artist {n % 3}", **values)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", get_args(AlbumSort))
def test_every_sort_reads_its_page_from_an_index(db_session, owner_library, sort, order):
    s = db_session
    user, lib = owner_library
    s.add_all([_album(lib.id, n, year=1990 + n % 4, rating=n % 5 or None) for n in range(1, 13)])
    s.commit()
    with captured_statements(get_engine()) as statements:
        list_albums(session=s, user=user, sort=sort, order=order, limit=5, offset=5)
    page = next(st for st in statements if "ORDER BY" in st[0])
    # Without another way to produce the order the planner sorts, however expensive sorting is made.
    s.execute(text("SET LOCAL enable_sort = off"))
    s.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(s.connection().exec_driver_sql(f"EXPLAIN {page[0]}", page[1]).scalars())
    s.rollback()
    assert "Sort" not in plan and "ix_albums_list_" in plan, plan


def test_pages_follow_the_sort_with_missing_values_last(db_session, owner_library):
    s = db_session
    user, lib = owner_library
    s.add_all([_album(lib.id, n, year=None if n % 4 == 0 else 1990 + n % 3) for n in range(1, 13)])
    s.add(_album(lib.id, 99, year=2000, deleted_at=None))
    s.commit()
    seen = []
    for offset in range(0, 13, 5):
        rows, total = list_albums(session=s, user=user, sort="year", order="desc", limit=5, offset=offset)
        seen += [(a.year, a.id) for a in rows]
        assert total == 13
    years = [y for y, _ in seen]
    assert years[0] == 2000 and years[-3:] == [None, None, None]
    known = [(-y, i) for y, i in seen if y is not None]
    assert known == sorted(known)  # descending year, then id
