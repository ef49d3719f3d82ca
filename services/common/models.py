"""Database models (SQLAlchemy 2.0, typed). Postgres is the source of truth.

Ownership: a library belongs to a user; albums, tracks and embeddings belong to a library;
playlists belong to a user. Other users reach a library only through `library_shares` (read-only).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

EMBEDDING_DIMENSIONS = 384


def _is_set(column: str) -> hybrid_property:
    """Whether a nullable column holds a value: on a loaded row, and as SQL (`column IS NOT NULL`)."""
    return hybrid_property(lambda row: getattr(row, column) is not None,
                           expr=lambda cls: getattr(cls, column).is_not(None))

# Expression indexes cannot be compared by Alembic autogenerate; revisions manage them by hand.
HAND_MANAGED_INDEXES = {"ix_tracks_search_trgm", "ix_search_words_shape", "ix_track_embeddings_hnsw_text",
                        "ix_track_embeddings_hnsw_audio",
                        # the track list's sort orders (revision 0015)
                        "ix_tracks_list_artist", "ix_tracks_list_title", "ix_tracks_list_bpm_desc",
                        "ix_tracks_list_year_desc",
                        # the album list's sort orders and live-album count (revision 0018)
                        *(f"ix_albums_list_{column}_{direction}" for column in ("date_added", "artist", "title", "year",
                                                                               "rating") for direction in ("asc", "desc")),
                        "ix_albums_live_library"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic filter: skip what autogenerate cannot compare."""
    return not (type_ == "index" and name in HAND_MANAGED_INDEXES)


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # The user's own Discogs access token, Fernet-encrypted (key from SECRET_KEY); never returned or logged.
    discogs_token_encrypted: Mapped[str | None] = mapped_column(Text)


class UserSession(Base):
    """A signed-in browser. The cookie carries a random id whose SHA-256 is stored here; logging out
    deletes the row, so the old cookie answers 401."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiToken(Base):
    """Personal API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Library(TimestampMixin, Base):
    """One Discogs username's collection, owned by a user. Friend libraries are read-only imports."""

    __tablename__ = "libraries"
    __table_args__ = (UniqueConstraint("owner_id", "discogs_username", name="uq_library_owner_username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    discogs_username: Mapped[str | None] = mapped_column(String(150))
    is_friend: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    owner: Mapped[User] = relationship()


class LibraryShare(Base):
    """Another user follows this library read-only, once they accept the invitation."""

    __tablename__ = "library_shares"

    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # An invitation (share_library) until the recipient accepts it; only accepted shares give read access.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class Album(TimestampMixin, Base):
    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("library_id", "release_id", name="uq_album_library_release"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"), index=True)
    release_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    artist: Mapped[str] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    genres: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    styles: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    label: Mapped[str | None] = mapped_column(Text)
    catalog_number: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(Text)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    discogs_url: Mapped[str | None] = mapped_column(Text)
    date_added: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    notes: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(Text)
    purchase_price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Discogs sync (revision 0002): the sync run that last saw this release in the Discogs collection.
    last_seen_run_id: Mapped[int | None] = mapped_column(Integer)

    tracks: Mapped[list[Track]] = relationship(back_populates="album_ref", order_by="Track.id")


class Track(TimestampMixin, Base):
    __tablename__ = "tracks"
    __table_args__ = (
        UniqueConstraint("track_id", "library_id", name="uq_track_trackid_library"),
        Index("ix_tracks_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_tracks_search_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}),
        Index("ix_tracks_genres", "genres", postgresql_using="gin"),
        Index("ix_tracks_styles", "styles", postgresql_using="gin"),
        Index("ix_tracks_bpm", "bpm"),
        Index("ix_tracks_camelot", "camelot"),
        Index("ix_tracks_energy", "energy"),
        Index("ix_tracks_year", "year"),
        Index("ix_tracks_created_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_id: Mapped[str] = mapped_column(String(64))  # "<releaseId>-<position>"
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"), index=True)
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    release_id: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    artist: Mapped[str | None] = mapped_column(Text)
    album: Mapped[str | None] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    position: Mapped[str | None] = mapped_column(String(32))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    genres: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    styles: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    notes: Mapped[str | None] = mapped_column(Text)
    star_rating: Mapped[int | None] = mapped_column(SmallInteger)

    # Analysis (BPM is stored as measured, never rounded)
    bpm: Mapped[float | None] = mapped_column(Float)
    key: Mapped[str | None] = mapped_column(String(8))
    scale: Mapped[str | None] = mapped_column(String(8))
    camelot: Mapped[str | None] = mapped_column(String(3))
    key_strength: Mapped[float | None] = mapped_column(Float)
    danceability: Mapped[float | None] = mapped_column(Float)
    energy: Mapped[float | None] = mapped_column(Float)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    moods: Mapped[dict[str, float] | None] = mapped_column(JSONB)
    # The whole analysis result, waveform and beat grid included (tens of KB per track): loaded on access
    # only, so that lists of tracks do not transfer and parse it (undefer it where a batch reads it).
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB, deferred=True)
    analyzed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # analysis["analyzer_version"] kept apart: counting outdated analyses must not read every analysis document
    analyzer_version: Mapped[str | None] = mapped_column(String(40))
    # What the analysis was unsure of (migration 0012): [{"bpm", "confidence", "relation"}], the key's
    # confidence and its runner-up {"key", "scale", "camelot", "confidence"}.
    bpm_candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    key_confidence: Mapped[float | None] = mapped_column(Float)
    key_alternative: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # "user" when the DJ corrected bpm / key+scale+camelot (a re-analysis keeps the correction; the
    # analysed values stay in `analysis`); null when the columns hold the analysis's values.
    bpm_source: Mapped[str | None] = mapped_column(String(8))
    key_source: Mapped[str | None] = mapped_column(String(8))

    # The analysis's own tempo and key (they differ from bpm/camelot after a DJ's correction), read by
    # PostgreSQL from the JSON instead of loading it. Expired when the analysis is stored (results.py).
    analysed_bpm: Mapped[float | None] = column_property(  # a number or nothing: a stored oddity never fails a read
        case((func.jsonb_typeof(analysis.column["bpm"]) == "number", analysis.column["bpm"].as_float())))
    analysed_camelot: Mapped[str | None] = column_property(analysis.column["camelot"].as_string())

    # In SQL as well as on a loaded track: list pages read these booleans, not the path and timestamp.
    analyzed = _is_set("analyzed_at")
    has_audio = _is_set("local_audio_path")

    # Audio and platform links
    local_audio_path: Mapped[str | None] = mapped_column(Text)
    # Where the audio came from: {"method": "yt-dlp"|"gamdl"|"youtube-search"|"upload", "url", "note",
    # "format", "at", "job_id"} (migration 0005)
    audio_source: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    apple_music_url: Mapped[str | None] = mapped_column(Text)
    spotify_url: Mapped[str | None] = mapped_column(Text)
    youtube_url: Mapped[str | None] = mapped_column(Text)
    soundcloud_url: Mapped[str | None] = mapped_column(Text)
    # Where each *_url came from: {"spotify_url": "manual" | "matched"} (migration 0007)
    link_origins: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Search (migration 0004): both maintained by the database on every write. djp_fold() lowercases and
    # strips accents; title/artist weigh A, album B, genres/styles/tags/notes C. These three columns are only
    # read in SQL: deferred, so loading a track does not transfer and parse them.
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('simple', djp_fold(title) || ' ' || djp_fold(artist)), 'A') || "
            "setweight(to_tsvector('simple', djp_fold(album)), 'B') || "
            "setweight(to_tsvector('simple', djp_fold(immutable_array_to_string(genres || styles || tags, ' ')) "
            "|| ' ' || djp_fold(notes)), 'C')",
            persisted=True,
        ),
        deferred=True,
    )
    search_text: Mapped[str | None] = mapped_column(  # trigram matching for typos
        Text, Computed("djp_fold(artist) || ' ' || djp_fold(title)", persisted=True), deferred=True
    )
    # The folded title, stored (migration 0017): ranking by "the title starts with what was typed" read
    # instead of folded per matching row.
    title_fold: Mapped[str | None] = mapped_column(Text, Computed("djp_fold(title)", persisted=True), deferred=True)

    album_ref: Mapped[Album | None] = relationship(back_populates="tracks")


class SearchOutbox(Base):
    """Tracks changed since the MeiliSearch index last saw them (filled by a trigger, migration 0004)."""

    __tablename__ = "search_outbox"
    track_pk: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SearchState(Base):
    """One row: whether the outbox records changes (MeiliSearch in use) and the last full rebuild."""

    __tablename__ = "search_state"
    __table_args__ = (CheckConstraint("id = 1", name="ck_search_state_single_row"),)
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    outbox_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    last_rebuild_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SearchWord(Base):
    """Every word of every track's search text: what a misspelt query word is corrected to."""

    __tablename__ = "search_words"
    __table_args__ = (Index("ix_search_words_shape", text("left(word, 1)"), text("length(word)")),)
    word: Mapped[str] = mapped_column(Text, primary_key=True)


class TrackEmbedding(Base):
    __tablename__ = "track_embeddings"
    __table_args__ = (
        UniqueConstraint("track_pk", "kind", "model", name="uq_embedding_track_kind_model"),
        # migration 0010: counts and exact searches per model; one HNSW index per kind (partial, hand-managed);
        # 0016 dropped 0001's global HNSW index (every query filters on one kind)
        Index("ix_track_embeddings_kind_model_track", "kind", "model", "track_pk"),
        *(Index(f"ix_track_embeddings_hnsw_{kind}", "embedding", postgresql_using="hnsw",
                postgresql_ops={"embedding": "vector_cosine_ops"}, postgresql_where=text(f"kind = '{kind}'"))
          for kind in ("text", "audio")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_pk: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. "text", "audio"
    model: Mapped[str] = mapped_column(String(100))
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIMENSIONS))
    source_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Playlist(TimestampMixin, Base):
    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)

    items: Mapped[list[PlaylistTrack]] = relationship(
        back_populates="playlist", cascade="all, delete-orphan", order_by="PlaylistTrack.position"
    )


class PlaylistTrack(Base):
    __tablename__ = "playlist_tracks"
    __table_args__ = (
        UniqueConstraint(
            "playlist_id", "position", name="uq_playlist_position", deferrable=True, initially="DEFERRED"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"), index=True)
    track_pk: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)

    playlist: Mapped[Playlist] = relationship(back_populates="items")
    track: Mapped[Track] = relationship()


class PlaylistVersion(Base):
    """A snapshot of a playlist's order, taken before the set builder replaces it (for undo)."""

    __tablename__ = "playlist_versions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    track_pks: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- Collection import: Discogs sync state, raw releases, vinyl spins (revision 0002) -------------


class DiscogsRelease(Base):
    """Raw `GET /releases/{id}` JSON, shared by every library: re-parsing never needs the network."""

    __tablename__ = "discogs_releases"

    release_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)  # why the last fetch failed (data kept if any)
    last_error_run_id: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SyncRun(Base):
    """One Discogs sync of a library: durable progress, so a killed worker resumes where it stopped."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_library_status", "library_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))  # "full" (collection + tracklists) | "tracklists"
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed
    stage: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(100))
    pages_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    pages_total: Mapped[int | None] = mapped_column(Integer)
    releases_total: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    releases_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    releases_fetched: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    releases_failed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    releases_removed: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    failures: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SpinSession(Base):
    """A listening/playing session on the turntables: sides or tracks played, in order."""

    __tablename__ = "spin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    notes: Mapped[str | None] = mapped_column(Text)

    spins: Mapped[list[Spin]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="Spin.id"
    )


class Spin(Base):
    """One track played (a side played is logged as each of its tracks, with the side kept)."""

    __tablename__ = "spins"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("spin_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    track_pk: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    side: Mapped[str | None] = mapped_column(String(8))
    played_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    session: Mapped[SpinSession] = relationship(back_populates="spins")


# --- Enrichment: platform-link review queue and each source's last error (revision 0007) ---------


class EnrichmentReview(Base):
    """A track whose best candidate on one source was not certain enough: the user decides."""

    __tablename__ = "enrichment_reviews"
    __table_args__ = (
        Index("ix_enrichment_reviews_status_source", "status", "source"),
        Index("uq_enrichment_reviews_pending", "track_pk", "source", unique=True,
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_pk: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # "apple" | "spotify" | "youtube"
    # Scored candidates, best first: Candidate fields + "score", "decision", "evidence"
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default=text("'pending'"))
    chosen_index: Mapped[int | None] = mapped_column(SmallInteger)
    chosen: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    job_id: Mapped[str | None] = mapped_column(String(100))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EnrichmentSourceStatus(Base):
    """Each catalog source's last error (no secrets) and last success, for the settings page."""

    __tablename__ = "enrichment_source_status"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- Spotify account connections (issue 14: connect an account, export playlists) ---------------------------


class SpotifyConnection(TimestampMixin, Base):
    """A user's connected Spotify account. The refresh token is stored encrypted (Fernet, key derived from
    the app's SECRET_KEY); access tokens are never stored. `status` is "connected" or "broken" (Spotify
    refused the refresh token: the user must connect again), with `error` saying why."""

    __tablename__ = "spotify_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    spotify_user_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(300))
    refresh_token_encrypted: Mapped[str] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="connected", server_default=text("'connected'"))
    error: Mapped[str | None] = mapped_column(Text)


class SpotifyPlaylistExport(Base):
    """Where a playlist was exported on Spotify, per user and Spotify account: re-exports update it."""

    __tablename__ = "spotify_playlist_exports"
    __table_args__ = (UniqueConstraint("playlist_id", "user_id", name="uq_spotify_export_playlist_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int] = mapped_column(ForeignKey("playlists.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    spotify_user_id: Mapped[str] = mapped_column(String(200))
    spotify_playlist_id: Mapped[str] = mapped_column(String(100))
    spotify_url: Mapped[str | None] = mapped_column(Text)
    track_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    exported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# --- OpenAI-assisted metadata: suggestions to review, app-wide settings (revision 0009) -------------


class MetadataSuggestion(Base):
    """Genres, styles, moods and a DJ note the model suggested for a track: applied only when the user
    accepts it (optionally edited). `fields`: {"genres": [...], "styles": [...], "moods": [...], "note": str}
    as suggested, or as accepted once accepted."""

    __tablename__ = "metadata_suggestions"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'rejected')", name="ck_metadata_suggestions_status"),
        Index("ix_metadata_suggestions_user_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    track_pk: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default=text("'pending'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AppSetting(Base):
    """App-wide settings an admin changes in the browser (key -> JSON value), e.g. "prompt.suggest_user"."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB, nullable=False)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


# --- New releases from artists in a library (revision 0013) ----------------------------------------


class NewRelease(Base):
    """A Discogs release (or master) by an artist of the library, newer than what the library holds and
    not in it: found by the optional new-releases check (services/domain/new_releases)."""

    __tablename__ = "new_releases"
    __table_args__ = (UniqueConstraint("library_id", "kind", "discogs_id", name="uq_new_release_library_kind_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"), index=True)
    artist_id: Mapped[int] = mapped_column(BigInteger)  # the Discogs artist id
    artist_name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # "release" | "master"
    discogs_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    year: Mapped[int | None] = mapped_column(SmallInteger)
    format: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    thumbnail: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
