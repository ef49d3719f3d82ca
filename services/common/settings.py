"""One settings object for every service, read from the environment (and `.env`).

Variable names are the seed project's; every one is documented in `.env.example`.
When DATABASE_URL / REDIS_URL are unset, services start embedded servers under DATA_DIR
(see services.common.embedded).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage and servers
    data_dir: Path = Field(Path("./data"), validation_alias="DATA_DIR")
    audio_dir: Path | None = Field(None, validation_alias="AUDIO_DIR")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    meilisearch_host: str | None = Field(None, validation_alias="MEILISEARCH_HOST")
    meilisearch_api_key: SecretStr | None = Field(None, validation_alias="MEILISEARCH_API_KEY")
    # The embedded PostgreSQL's shared_buffers ("512MB", "1GB"); unset = a quarter of the RAM, 128MB to 1GB
    embedded_pg_shared_buffers: str | None = Field(
        None, pattern=r"^[1-9][0-9]*(kB|MB|GB)$", validation_alias="EMBEDDED_PG_SHARED_BUFFERS"
    )

    # Service URLs
    essentia_api_url: str = Field("http://127.0.0.1:8001", validation_alias="ESSENTIA_API_URL")
    ga_service_url: str = Field("http://127.0.0.1:8002", validation_alias="GA_SERVICE_URL")
    web_port: int = Field(3000, validation_alias="WEB_PORT")
    essentia_port: int = Field(8001, validation_alias="ESSENTIA_PORT")
    ga_port: int = Field(8002, validation_alias="GA_PORT")
    bind_host: str = Field("127.0.0.1", validation_alias="BIND_HOST")
    # Largest request body on any web route, in MB; the audio upload, CSV and playlist imports have their own
    # caps (services/web/api/limits.py) and may go up to those.
    max_request_mb: int = Field(25, ge=1, validation_alias="MAX_REQUEST_MB")
    # Serving under load (services/web/__main__.py, services/web/api/admission.py, services/common/db.py)
    web_workers: int = Field(0, ge=0, validation_alias="WEB_WORKERS")  # 0 = one per core
    # One line per request from uvicorn; behind a reverse proxy that logs requests, false saves ~7 % of the web
    # processes' CPU under load (docs/benchmarks.md, "Web app under load").
    web_access_log: bool = Field(True, validation_alias="WEB_ACCESS_LOG")
    # Requests at work per worker process (0 = 4); uploads in flight per worker process, counted apart
    web_max_inflight: int = Field(0, ge=0, validation_alias="WEB_MAX_INFLIGHT")
    web_max_uploads: int = Field(4, ge=1, validation_alias="WEB_MAX_UPLOADS")
    web_queue_timeout_ms: int = Field(300, ge=0, validation_alias="WEB_QUEUE_TIMEOUT_MS")
    # Connection pool per process; unset = computed from DB_MAX_CONNECTIONS and the web workers
    db_pool_size: int | None = Field(None, ge=1, validation_alias="DB_POOL_SIZE")
    db_max_overflow: int | None = Field(None, ge=0, validation_alias="DB_MAX_OVERFLOW")
    db_pool_timeout_seconds: float = Field(2.0, gt=0, validation_alias="DB_POOL_TIMEOUT")
    db_max_connections: int = Field(100, ge=10, validation_alias="DB_MAX_CONNECTIONS")  # the server's

    # Accounts
    admin_username: str | None = Field(None, validation_alias="ADMIN_USERNAME")
    admin_password: SecretStr | None = Field(None, validation_alias="ADMIN_PASSWORD")
    secret_key: SecretStr | None = Field(None, validation_alias="SECRET_KEY")
    # Shared by the web app, the worker, the analysis service and the set builder (Bearer token).
    service_token: SecretStr | None = Field(None, validation_alias="SERVICE_TOKEN")
    session_max_age_days: int = Field(30, validation_alias="SESSION_MAX_AGE_DAYS")
    cookie_secure: bool = Field(False, validation_alias="COOKIE_SECURE")

    # Discogs
    discogs_user_token: SecretStr | None = Field(None, validation_alias="DISCOGS_USER_TOKEN")
    discogs_username: str | None = Field(None, validation_alias="DISCOGS_USERNAME")
    discogs_api_url: str = Field("https://api.discogs.com", validation_alias="DISCOGS_API_URL")
    discogs_rate_limit_per_minute: int = Field(60, validation_alias="DISCOGS_RATE_LIMIT_PER_MINUTE")
    discogs_timeout_seconds: float = Field(30.0, gt=0, validation_alias="DISCOGS_TIMEOUT_SECONDS")
    discogs_max_attempts: int = Field(5, ge=1, validation_alias="DISCOGS_MAX_ATTEMPTS")
    discogs_backoff_seconds: float = Field(1.0, ge=0, validation_alias="DISCOGS_BACKOFF_SECONDS")
    discogs_backoff_max_seconds: float = Field(60.0, ge=0, validation_alias="DISCOGS_BACKOFF_MAX_SECONDS")
    discogs_max_retry_after_seconds: float = Field(
        120.0, ge=0, validation_alias="DISCOGS_MAX_RETRY_AFTER_SECONDS"
    )
    discogs_concurrency: int = Field(1, ge=1, le=32, validation_alias="DISCOGS_CONCURRENCY")
    discogs_slowdown_remaining: int = Field(5, ge=0, validation_alias="DISCOGS_SLOWDOWN_REMAINING")

    # Other metadata sources
    apple_music_team_id: str | None = Field(None, validation_alias="APPLE_MUSIC_TEAM_ID")
    apple_music_key_id: str | None = Field(None, validation_alias="APPLE_MUSIC_KEY_ID")
    apple_music_private_key_path: Path | None = Field(None, validation_alias="APPLE_MUSIC_PRIVATE_KEY_PATH")
    spotify_client_id: str | None = Field(None, validation_alias="SPOTIFY_CLIENT_ID")
    spotify_client_secret: SecretStr | None = Field(None, validation_alias="SPOTIFY_CLIENT_SECRET")
    spotify_redirect_uri: str | None = Field(None, validation_alias="SPOTIFY_REDIRECT_URI")
    youtube_api_key: SecretStr | None = Field(None, validation_alias="YOUTUBE_API_KEY")
    # Enrichment catalog clients (services/domain/enrichment/sources); the API URLs are for tests
    apple_music_storefront: str = Field("us", pattern="^[a-z]{2}$", validation_alias="APPLE_MUSIC_STOREFRONT")
    spotify_accounts_url: str = Field("https://accounts.spotify.com", validation_alias="SPOTIFY_ACCOUNTS_URL")
    spotify_api_url: str = Field("https://api.spotify.com", validation_alias="SPOTIFY_API_URL")
    youtube_api_url: str = Field("https://www.googleapis.com/youtube/v3", validation_alias="YOUTUBE_API_URL")
    enrichment_timeout_seconds: float = Field(15.0, gt=0, validation_alias="ENRICHMENT_TIMEOUT_SECONDS")
    enrichment_max_attempts: int = Field(4, ge=1, le=10, validation_alias="ENRICHMENT_MAX_ATTEMPTS")
    enrichment_backoff_seconds: float = Field(1.0, ge=0, validation_alias="ENRICHMENT_BACKOFF_SECONDS")
    enrichment_max_retry_after_seconds: float = Field(
        60.0, ge=0, validation_alias="ENRICHMENT_MAX_RETRY_AFTER_SECONDS"
    )
    enrichment_concurrency: int = Field(4, ge=1, le=32, validation_alias="ENRICHMENT_CONCURRENCY")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    # OpenAI-assisted metadata and search parsing (services/domain/enrichment/openai_assist.py)
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")  # None = the official API
    openai_model: str = Field("gpt-4o-mini", min_length=1, validation_alias="OPENAI_MODEL")
    openai_timeout_seconds: float = Field(30.0, gt=0, validation_alias="OPENAI_TIMEOUT_SECONDS")
    openai_max_retries: int = Field(3, ge=0, le=10, validation_alias="OPENAI_MAX_RETRIES")
    # Track embeddings (services/domain/embeddings): auto = OpenAI when OPENAI_API_KEY is set, else the local model
    embeddings_provider: str = Field("auto", pattern="^(auto|local|openai)$", validation_alias="EMBEDDINGS_PROVIDER")
    openai_embedding_model: str = Field("text-embedding-3-small", min_length=1,
                                        validation_alias="OPENAI_EMBEDDING_MODEL")
    embeddings_threads: int = Field(0, ge=0, le=64, validation_alias="EMBEDDINGS_THREADS")  # 0 = min(2, cores)

    # Audio analysis (services/essentia_api)
    analysis_workers: int = Field(0, validation_alias="ANALYSIS_WORKERS")  # 0 = one per core
    analysis_timeout_seconds: float = Field(120.0, validation_alias="ANALYSIS_TIMEOUT_SECONDS")
    analysis_max_upload_mb: int = Field(200, validation_alias="ANALYSIS_MAX_UPLOAD_MB")
    # An uploaded file is analysed at once, as Rekordbox's "auto analysis on import" does (`?analyze=false`
    # on one upload, or false here, leaves it to the Analyse button / POST /api/tracks/{pk}/analyze).
    analyze_uploads: bool = Field(True, validation_alias="ANALYZE_UPLOADS")
    # Longest audio analysed (uploads and paths); 0 = no limit. 3 h covers long DJ mixes; a decode
    # holds ~1.3 GB per stereo hour in each pool worker.
    analysis_max_duration_minutes: float = Field(180.0, ge=0, validation_alias="ANALYSIS_MAX_DURATION_MINUTES")
    analysis_bpm_min: float = Field(70.0, validation_alias="ANALYSIS_BPM_MIN")
    analysis_bpm_max: float = Field(180.0, validation_alias="ANALYSIS_BPM_MAX")
    mood_models_dir: Path | None = Field(None, validation_alias="MOOD_MODELS_DIR")
    # "auto": Essentia models from MOOD_MODELS_DIR, else the bundled MusiCNN model; "descriptor": neither.
    mood_model: Literal["auto", "descriptor"] = Field("auto", validation_alias="MOOD_MODEL")

    # Downloads (the worker: yt-dlp and gamdl, then ffmpeg)
    download_allowed_hosts: str = Field(
        "music.apple.com,youtube.com,youtu.be,music.youtube.com,soundcloud.com,bandcamp.com,mixcloud.com,"
        "vimeo.com,archive.org",
        validation_alias="DOWNLOAD_ALLOWED_HOSTS",
    )
    # "false" (default), "true", or a comma list of networks (CIDR) that may be reached even so.
    download_allow_private_networks: str = Field("false", validation_alias="DOWNLOAD_ALLOW_PRIVATE_NETWORKS")
    download_format: str = Field("m4a", pattern="^(m4a|mp3|flac|wav|aiff|ogg)$",
                                 validation_alias="DOWNLOAD_FORMAT")
    download_max_mb: int = Field(500, ge=1, validation_alias="DOWNLOAD_MAX_MB")
    download_max_duration_minutes: float = Field(180.0, ge=0, validation_alias="DOWNLOAD_MAX_DURATION_MINUTES")
    download_timeout_seconds: float = Field(30.0, gt=0, validation_alias="DOWNLOAD_TIMEOUT_SECONDS")
    download_retries: int = Field(3, ge=0, le=10, validation_alias="DOWNLOAD_RETRIES")
    download_retry_delays: str = Field("30,120,600", validation_alias="DOWNLOAD_RETRY_DELAYS")
    cookies_dir: Path | None = Field(None, validation_alias="COOKIES_DIR")
    # Per-user caps on queued + running jobs of one kind (services/domain/jobs.py); 0 = no cap
    jobs_max_queued_per_user: int = Field(5000, ge=0, validation_alias="JOBS_MAX_QUEUED_PER_USER")
    jobs_max_syncs_per_user: int = Field(3, ge=0, validation_alias="JOBS_MAX_SYNCS_PER_USER")
    ytdlp_format: str = Field("bestaudio/best", validation_alias="YTDLP_FORMAT")
    gamdl_codec: str = Field("aac-legacy", validation_alias="GAMDL_CODEC")
    gamdl_cover: bool = Field(False, validation_alias="GAMDL_COVER")
    ffmpeg_path: str | None = Field(None, validation_alias="FFMPEG_PATH")
    # Apple's hosts that gamdl talks to; unset = Apple's own (tests point them at a local fake)
    apple_music_api_url: str | None = Field(None, validation_alias="APPLE_MUSIC_API_URL")
    apple_music_web_url: str | None = Field(None, validation_alias="APPLE_MUSIC_WEB_URL")
    apple_music_play_url: str | None = Field(None, validation_alias="APPLE_MUSIC_PLAY_URL")
    itunes_api_url: str | None = Field(None, validation_alias="ITUNES_API_URL")

    # Backups (services/domain/backups): pg_dump custom-format files, 0700 folder / 0600 files
    backup_dir: Path | None = Field(None, validation_alias="BACKUP_DIR")  # None = DATA_DIR/backups
    pg_bin_dir: Path | None = Field(None, validation_alias="PG_BIN_DIR")  # pg_dump/pg_restore; None = found
    backup_interval_hours: float = Field(0, ge=0, validation_alias="BACKUP_INTERVAL_HOURS")  # 0 = no schedule
    backup_keep_daily: int = Field(7, ge=0, validation_alias="BACKUP_KEEP_DAILY")
    backup_keep_weekly: int = Field(4, ge=0, validation_alias="BACKUP_KEEP_WEEKLY")

    # Scheduled maintenance (worker, RQ scheduler): 0 = off
    # "New releases from artists in my collection" (services/domain/new_releases): every N hours
    discogs_new_releases_interval_hours: float = Field(0, ge=0, validation_alias="DISCOGS_NEW_RELEASES_INTERVAL_HOURS")
    # Embeddings / search-index drift repair (services/domain/maintenance): every N hours
    repair_interval_hours: float = Field(24, ge=0, validation_alias="REPAIR_INTERVAL_HOURS")

    # Set builder (services/ga_service)
    ga_workers: int = Field(0, validation_alias="GA_WORKERS")  # 0 = one per core
    ga_max_tracks: int = Field(2000, validation_alias="GA_MAX_TRACKS")

    @field_validator("data_dir", "audio_dir", "cookies_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @property
    def resolved_web_max_inflight(self) -> int:
        """Requests at work per web process: WEB_MAX_INFLIGHT, 0 = 4 (measured best on 2 cores)."""
        return self.web_max_inflight or 4

    @property
    def resolved_web_workers(self) -> int:
        if self.web_workers:
            return self.web_workers
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return len(cores) if cores else (os.cpu_count() or 1)

    @property
    def resolved_audio_dir(self) -> Path:
        return self.audio_dir or (self.data_dir / "audio")

    @property
    def resolved_backup_dir(self) -> Path:
        return (self.backup_dir or (self.data_dir / "backups")).expanduser().resolve()

    @property
    def resolved_cookies_dir(self) -> Path:
        return self.cookies_dir or (self.data_dir / "cookies")

    @property
    def download_retry_delay_list(self) -> list[int]:
        return [int(float(part)) for part in self.download_retry_delays.split(",") if part.strip()] or [30]


@lru_cache
def get_settings() -> Settings:
    return Settings()
