"""CSV import limits and validation: caps enforced while reading, values checked on the way in."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from services.domain.collection import service
from services.domain.collection.csv_import import CsvImportError, parse_collection_csv
from services.domain.errors import Invalid, TooLarge

HEADER = ("Catalog#,Artist,Title,Label,Format,Rating,Released,release_id,CollectionFolder,Date Added,"
          "Collection Media Condition,Collection Sleeve Condition,Collection Notes\n")


def row(release_id: str = "1", date_added: str = "2023-05-01 10:11:12", rating: str = "") -> str:
    return f"C,Artist,Title,Label,LP,{rating},1999,{release_id},U,{date_added},,,\n"


class CountingStream(io.RawIOBase):
    """An endless upload of valid rows that records how many bytes were taken from it."""

    def __init__(self) -> None:
        self.read_bytes = 0
        self._header = HEADER.encode()
        self._n = 0

    def readable(self) -> bool:
        return True

    def readline(self, size: int = -1) -> bytes:
        if self._header:
            line, self._header = self._header, b""
        else:
            self._n += 1
            line = row(str(self._n)).encode()
        line = line if size is None or size < 0 else line[:size]
        self.read_bytes += len(line)
        return line

    def read(self, size: int = -1) -> bytes:  # pragma: no cover - the parser reads lines
        raise AssertionError("the whole upload must not be read at once")


def test_size_cap_is_enforced_while_reading():
    stream = CountingStream()
    with pytest.raises(TooLarge, match="larger than 1 MB"):
        parse_collection_csv(stream, max_bytes=1024 * 1024, max_rows=10**9)
    # Refused as soon as the cap was passed: at most one line beyond it was taken from the upload.
    assert 1024 * 1024 < stream.read_bytes <= 1024 * 1024 + 200


def test_one_endless_line_is_cut_at_the_cap():
    stream = io.BytesIO(HEADER.encode() + b"x" * (3 * 1024 * 1024))
    with pytest.raises(TooLarge):
        parse_collection_csv(stream, max_bytes=1024 * 1024)
    assert stream.tell() <= 1024 * 1024 + 1


def test_row_cap_names_the_line():
    stream = CountingStream()
    with pytest.raises(TooLarge, match=r"more than 1,000 records \(line 1002\)") as caught:
        parse_collection_csv(stream, max_rows=1000)
    assert caught.value.code == "too_many_rows"
    assert stream.read_bytes < 200 * 1002  # stopped at the cap, not at the byte limit


def test_rows_up_to_the_cap_are_accepted():
    data = (HEADER + "".join(row(str(n)) for n in range(1, 101))).encode()
    assert len(parse_collection_csv(io.BytesIO(data), max_rows=100)) == 100
    assert len(parse_collection_csv(data, max_rows=100)) == 100  # bytes still accepted


@pytest.mark.parametrize("release_id", ["²", "١٢٣", "12³", "+5", "0", "-3", " 1 2", "9223372036854775808",
                                        "99999999999999999999999"])
def test_release_id_must_be_ascii_digits_within_bigint(release_id):
    data = (HEADER + row("7") + row(release_id)).encode()
    with pytest.raises(CsvImportError, match=r"line 3: release_id"):
        parse_collection_csv(data)


def test_largest_bigint_release_id_is_accepted():
    [album] = parse_collection_csv((HEADER + row("9223372036854775807")).encode())
    assert album.release_id == 2**63 - 1


@pytest.mark.parametrize("rating", ["²", "6", "-1", "٣"])
def test_rating_must_be_an_ascii_digit_0_to_5(rating):
    with pytest.raises(CsvImportError, match="line 2: Rating"):
        parse_collection_csv((HEADER + row(rating=rating)).encode())


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31 23:59:59",
                                   "2101-01-01", "2100-12-31T23:00:00-02:00", "1900-01-01T00:30:00+01:00"])
def test_date_added_out_of_range_is_refused_naming_the_line(value):
    data = (HEADER + row("1") + row("2", date_added=value)).encode()
    with pytest.raises(CsvImportError, match=r"line 3: Date Added .* out of range \(years 1900-2100\)"):
        parse_collection_csv(data)


def test_date_added_is_normalized_to_utc():
    data = (HEADER + row("1", "2023-05-01T01:30:00+14:00") + row("2", "2023-05-01 10:11:12")
            + row("3", "1900-01-01T00:00:00+00:00") + row("4", "2100-12-31T23:59:59Z")).encode()
    albums = {a.release_id: a.date_added for a in parse_collection_csv(data)}
    assert albums[1] == datetime(2023, 4, 30, 11, 30, tzinfo=UTC) and albums[1].utcoffset().total_seconds() == 0
    assert albums[2] == datetime(2023, 5, 1, 10, 11, 12, tzinfo=UTC)
    assert albums[3].year == 1900 and albums[4].year == 2100


def test_nul_bytes_are_refused():
    with pytest.raises(CsvImportError, match="NUL"):
        parse_collection_csv((HEADER + "C,A\x00,T,L,F,,1999,5,U,,,,\n").encode())


def test_cp1252_export_still_reads():
    data = (HEADER + "C,Café Del Mar,T,L,F,,1999,5,U,,,,\n").encode("cp1252")
    [album] = parse_collection_csv(data)
    assert album.artist == "Café Del Mar"


def test_service_refuses_with_422_naming_the_line(owner_library, db_session):
    user, library = owner_library
    db_session.commit()
    stream = io.BytesIO((HEADER + row("1") + row("²")).encode())
    with pytest.raises(Invalid, match="line 3: release_id '²'"):
        service.import_csv(session=db_session, user=user, library_id=library.id, stream=stream,
                           queue_tracklists=False)
    stream = io.BytesIO((HEADER + row("1", date_added="9999-12-31T23:59:59-14:00")).encode())
    with pytest.raises(Invalid, match="line 2: Date Added"):
        service.import_csv(session=db_session, user=user, library_id=library.id, stream=stream,
                           queue_tracklists=False)


def test_service_stops_reading_a_huge_upload_at_the_cap(owner_library, db_session, monkeypatch):
    user, library = owner_library
    db_session.commit()
    monkeypatch.setattr("services.domain.collection.csv_import.MAX_BYTES", 1024 * 1024)
    monkeypatch.setattr(parse_collection_csv, "__kwdefaults__", {"max_bytes": 1024 * 1024, "max_rows": 10**9})
    stream = CountingStream()
    with pytest.raises(TooLarge):
        service.import_csv(session=db_session, user=user, library_id=library.id, stream=stream,
                           queue_tracklists=False)
    assert stream.read_bytes <= 1024 * 1024 + 200
