"""Playlists as files: export one (Rekordbox XML, Traktor NML, M3U8, CSV, JSON) and import one."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, status
from python_multipart.multipart import parse_options_header

from services.domain.errors import Invalid
from services.domain.playlists import exports, imports
from services.web.api.deps import CurrentUser, SessionDep
from services.web.api.uploads import StreamedFile

router = APIRouter(prefix="/api/playlists", tags=["playlists"])

FORM_FIELDS = ("format", "name", "playlist")
MAX_FIELD_BYTES = 1024
TRAILING_CHUNKS = 64  # what is read of the body after the file, for fields sent after it


class UploadWithFields(StreamedFile):
    """The multipart `file` part streamed, plus the small text fields `format`, `name` and `playlist`
    (those sent before the file are read with it, those after it by `finish()`)."""

    def __init__(self, request: Request, *, max_bytes: int) -> None:
        self.fields: dict[str, str] = {}
        self._text_field: str | None = None
        self._text = bytearray()
        super().__init__(request, max_bytes=max_bytes)

    def _headers_finished(self) -> None:
        super()._headers_finished()
        self._text_field = None
        if not self._in_field:
            _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
            name = params.get(b"name", b"").decode("utf-8", "replace")
            if name in FORM_FIELDS and b"filename" not in params:
                self._text_field, self._text = name, bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        super()._part_data(data, start, end)
        if self._text_field is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                raise Invalid(f"the form field {self._text_field!r} is too long", code="invalid_upload")

    def _part_end(self) -> None:
        if self._text_field is not None:
            self.fields[self._text_field] = self._text.decode("utf-8", "replace").strip()
            self._text_field = None
        super()._part_end()

    def finish(self) -> None:
        """Read (a bounded part of) what follows the file: the fields a form sends after it."""
        for _ in range(TRAILING_CHUNKS):
            if not self._pull():
                return


@router.get(
    "/{playlist_id}/export",
    response_class=Response,
    responses={200: {"description": "The playlist file, as an attachment", "content": {
        media: {} for _, media in exports.FILE_TYPES.values()}}},
)
def export_playlist(
    playlist_id: int,
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[exports.ExportFormat, Query(description="File format")],
    paths: Annotated[exports.PathStyle, Query(
        description="M3U8, CSV and JSON: absolute paths, or paths relative to the audio folder")
    ] = exports.PathStyle.absolute,
    root: Annotated[str | None, Query(max_length=1000, description=(
        "Where the audio folder is on the machine that reads the file (e.g. /Volumes/USB/audio or "
        "D:\\Music\\audio); default: AUDIO_DIR on this server"))] = None,
    phrase_cues: Annotated[bool, Query(description=(
        "Rekordbox and Traktor: a memory cue at each phrase start the analysis found (at most 8, never on a hot "
        "cue pad)"))] = False,
) -> Response:
    """Download the playlist as Rekordbox XML (`rekordbox`), Traktor NML (`nml`), extended M3U (`m3u8`),
    `csv` or `json`. Tracks without audio are left out of the XML formats (named in a comment) and written
    as `# missing audio:` comments in M3U8; the `X-Tracks-Without-Audio` header counts them. Tracks of a
    library no longer shared with you are never exported: `X-Hidden-Tracks` counts them (the file says so
    too, except CSV)."""
    result = exports.export_playlist(session=session, user=user, playlist_id=playlist_id, fmt=format,
                                     paths=paths, root=root, phrase_cues=phrase_cues)
    return Response(content=result.content, media_type=result.media_type, headers={
        "Content-Disposition": f'attachment; filename="{result.filename}"; '
                               f"filename*=UTF-8''{quote(result.filename)}",
        "X-Tracks-Without-Audio": str(result.skipped),
        "X-Hidden-Tracks": str(result.hidden),
        "Cache-Control": "no-store",
    })


IMPORT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "format": {"type": "string", "enum": [f.value for f in imports.ImportFormat]},
        "name": {"type": "string", "maxLength": 200},
        "playlist": {"type": "string", "description": "Which playlist of a Rekordbox/Traktor file"},
    }}}}}}


@router.post("/import", response_model=imports.ImportReport, status_code=status.HTTP_201_CREATED,
             openapi_extra=IMPORT_BODY)
def import_playlist(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    format: Annotated[str | None, Query(max_length=20, description="m3u8, rekordbox, nml or json")] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    playlist: Annotated[str | None, Query(max_length=500)] = None,
) -> imports.ImportReport:
    """Create a playlist from an M3U8, Rekordbox XML, Traktor NML or JSON file (multipart field `file`,
    at most 20 MB and 10,000 tracks), matching tracks of libraries you can read by audio path, then
    artist + title (+ duration within 3 s). `format` (else guessed), `name` (else the file's) and
    `playlist` (which one of a file with several) may be form fields or query parameters.
    Answers 201 with what matched and what did not, and why."""
    upload = UploadWithFields(request, max_bytes=imports.MAX_IMPORT_BYTES)
    data = imports.read_limited(upload.chunks(), max_bytes=imports.MAX_IMPORT_BYTES)
    upload.finish()
    fields = upload.fields
    return imports.import_playlist(
        session=session, user=user, filename=upload.filename, chunks=[data],
        fmt=format or fields.get("format"), name=name or fields.get("name"),
        playlist=playlist or fields.get("playlist"),
    )
