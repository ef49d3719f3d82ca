"""Audio analysis service: FastAPI on ESSENTIA_PORT (8001).

POST /analyze  multipart field `file` (an upload), or JSON {"path": "..."} / form field `path`
               relative to AUDIO_DIR. Returns AnalysisResult; errors are 4xx/5xx with
               {"detail", "code"}, never a 200 with an error inside.
GET  /health   Essentia version, pool state, mood backend. Service-internal, no auth.
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from services.common.audio_files import AudioPathError, check_audio_extension, resolve_inside
from services.common.contracts.analysis import ANALYZER_VERSION, AnalysisResult, AnalyzeByPath, ErrorBody
from services.common.http import error_response, install_error_handling, require_service_token
from services.common.settings import Settings, get_settings
from services.essentia_api.analysis import ess, essentia_version
from services.essentia_api.analysis.mood import DESCRIPTOR, select_mood_backend
from services.essentia_api.analysis.pipeline import AnalysisOptions
from services.essentia_api.errors import (
    AnalysisError,
    EmptyAudio,
    NotFound,
    RequestError,
    TooLarge,
    UnsupportedType,
)
from services.essentia_api.pool import AnalysisPool

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def resolve_audio_path(*, audio_dir: Path, rel_path: str) -> Path:
    """Resolve rel_path inside audio_dir; anything that escapes it (.., absolute, symlink out) is 400."""
    try:
        target = resolve_inside(audio_dir, rel_path)
        is_file = target.is_file()
    except AudioPathError as exc:
        raise RequestError(str(exc)) from None
    except (OSError, ValueError) as exc:  # name too long, bad encoding
        raise RequestError(f"invalid path: {type(exc).__name__}") from None
    if not is_file:
        raise NotFound(f"no file at {rel_path!r} under AUDIO_DIR")
    _check_suffix(target.name)
    return target


def _check_suffix(name: str) -> None:
    """415 for a type we do not read; a name without an extension (a browser upload) is let through."""
    try:
        check_audio_extension(name, required=False)
    except AudioPathError as exc:
        raise UnsupportedType(str(exc)) from None


async def _save_upload(upload: UploadFile, *, max_bytes: int, tmp_dir: str) -> Path:
    _check_suffix(upload.filename or "")
    suffix = Path(upload.filename or "").suffix.lower() or ".bin"
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=tmp_dir)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"upload exceeds {max_bytes // (1 << 20)} MB (ANALYSIS_MAX_UPLOAD_MB)")
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    if size == 0:
        os.unlink(name)
        raise EmptyAudio("the uploaded file is empty")
    return Path(name)


def create_app(*, settings: Settings | None = None, pool: AnalysisPool | None = None) -> FastAPI:
    settings = settings or get_settings()
    pool = pool or AnalysisPool(
        workers=settings.analysis_workers, timeout_seconds=settings.analysis_timeout_seconds
    )
    options = AnalysisOptions(
        bpm_min=settings.analysis_bpm_min,
        bpm_max=settings.analysis_bpm_max,
        mood_models_dir=str(settings.mood_models_dir) if settings.mood_models_dir else None,
        mood_model=settings.mood_model,
        max_seconds=settings.analysis_max_duration_minutes * 60 or None,
    )
    mood_backend, mood_reason = select_mood_backend(
        models_dir=settings.mood_models_dir, es_module=ess(), bundled=settings.mood_model != DESCRIPTOR
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool.start()
        yield
        pool.shutdown()

    app = FastAPI(title="DJ Playlist audio analysis", version=ANALYZER_VERSION, lifespan=lifespan)
    app.state.pool = pool
    app.state.settings = settings

    require_service_token(app, settings)
    install_error_handling(app, log=log)

    @app.exception_handler(AnalysisError)
    async def _analysis_error(_request: Request, exc: AnalysisError) -> JSONResponse:
        return error_response(exc.status_code, exc.detail, exc.code, headers=exc.headers())

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "service": "essentia_api",
            "analyzer_version": ANALYZER_VERSION,
            "essentia_version": essentia_version(),
            "pool": pool.state(),
            "mood_model": mood_backend.name,
            "mood_model_reason": mood_reason,
            "bpm_range": [settings.analysis_bpm_min, settings.analysis_bpm_max],
        }

    @app.post(
        "/analyze",
        response_model=AnalysisResult,
        responses={code: {"model": ErrorBody} for code in (400, 404, 413, 415, 422, 500, 503, 504)},
        # The body is parsed by hand (upload or path); describe both forms for the OpenAPI docs.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                "path": {"type": "string", "description": "relative to AUDIO_DIR"},
                            },
                        }
                    },
                    "application/json": {"schema": AnalyzeByPath.model_json_schema()},
                },
            }
        },
    )
    async def analyze(request: Request) -> AnalysisResult:
        ctype = request.headers.get("content-type", "")
        max_bytes = settings.analysis_max_upload_mb * (1 << 20)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes + (1 << 16):
            raise TooLarge(f"upload exceeds {settings.analysis_max_upload_mb} MB (ANALYSIS_MAX_UPLOAD_MB)")
        if ctype.startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise RequestError("invalid JSON body") from None
            if not isinstance(body, dict) or not isinstance(body.get("path"), str):
                raise RequestError('JSON body must be {"path": "<relative path under AUDIO_DIR>"}')
            target = resolve_audio_path(audio_dir=settings.resolved_audio_dir, rel_path=body["path"])
            return await pool.analyze(path=str(target), options=options)
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=4, max_part_size=max_bytes + 1)
            try:
                upload = form.get("file")
                if isinstance(upload, UploadFile):
                    with tempfile.TemporaryDirectory(prefix="essentia-api-") as tmp:
                        path = await _save_upload(upload, max_bytes=max_bytes, tmp_dir=tmp)
                        return await pool.analyze(path=str(path), options=options)
                rel = form.get("path")
                if isinstance(rel, str):
                    target = resolve_audio_path(audio_dir=settings.resolved_audio_dir, rel_path=rel)
                    return await pool.analyze(path=str(target), options=options)
            finally:
                await form.close()
        raise RequestError('send multipart field "file" (an upload) or "path", or JSON {"path": ...}')

    return app
