# syntax=docker/dockerfile:1
#
# DJ Playlist: one image per service, each with only its own extras.
#
#   docker build --target web           -t dj-playlist-web .
#   docker build --target essentia-api  -t dj-playlist-essentia-api .
#   docker build --target ga-service    -t dj-playlist-ga-service .
#   docker build --target download-worker -t dj-playlist-download-worker .
#
# Every image runs the service exactly as `make up` does (`python -m services.<name>`), from the
# source in /app (migrations/ and alembic.ini live next to services/), as the non-root user `djp`.
# Build args:
#   PYTHON_VERSION    patch-pinned CPython of the base image
#   MOOD_MODELS_URLS  (essentia-api) space-separated URLs of Essentia mood models (*.pb + *.json or
#                     *.history) baked into /opt/mood-models; empty (the default) = descriptor moods.

ARG PYTHON_VERSION=3.11.14

# ---------------------------------------------------------------------------------------------------
# base: the runtime every service shares
FROM python:${PYTHON_VERSION}-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    BIND_HOST=0.0.0.0 \
    DATA_DIR=/data \
    AUDIO_DIR=/data/audio \
    PYTHONPATH=/app

RUN groupadd --system --gid 10001 djp \
    && useradd --system --uid 10001 --gid djp --home-dir /app --shell /usr/sbin/nologin djp \
    && mkdir -p /app /data/audio /opt/djp \
    && chown -R djp:djp /data

WORKDIR /app
COPY docker/healthcheck.py /opt/djp/healthcheck.py

# ---------------------------------------------------------------------------------------------------
# deps-*: a virtualenv with the dependencies of one set of extras. Only pyproject.toml is copied, so
# this layer is rebuilt when dependencies change, not on every source edit.
FROM base AS deps

RUN python -m venv /opt/venv
COPY pyproject.toml /app/pyproject.toml
# A one-file stand-in package lets pip resolve the project's dependencies before the source exists.
RUN mkdir -p /app/services && touch /app/services/__init__.py

FROM deps AS deps-web
RUN pip install --no-cache-dir "/app[web,pgtools]" && pip uninstall --yes dj-playlist

FROM deps AS deps-essentia-api
RUN pip install --no-cache-dir "/app[analysis]" && pip uninstall --yes dj-playlist

FROM deps AS deps-ga-service
RUN pip install --no-cache-dir "/app[ga]" && pip uninstall --yes dj-playlist

# The worker runs the domain's jobs (library sync, analysis through the analysis service).
FROM deps AS deps-download-worker
RUN pip install --no-cache-dir "/app[worker,pgtools]" && pip uninstall --yes dj-playlist

# ---------------------------------------------------------------------------------------------------
# source: the project itself, run from /app (PYTHONPATH) rather than installed: the web app finds
# alembic.ini and migrations/ next to services/, and a bind mount of the tree over /app (dev) wins.
FROM base AS source
COPY alembic.ini pyproject.toml /app/
COPY migrations /app/migrations
COPY services /app/services

# ---------------------------------------------------------------------------------------------------
# mood-models: optional Essentia models, fetched at build time only when MOOD_MODELS_URLS is set.
FROM base AS mood-models
ARG MOOD_MODELS_URLS=""
COPY docker/fetch_mood_models.py /opt/djp/fetch_mood_models.py
RUN python /opt/djp/fetch_mood_models.py /opt/mood-models

# ---------------------------------------------------------------------------------------------------
# web: UI + REST API on WEB_PORT; migrates the database and creates the first admin on start.
FROM base AS web
COPY --from=deps-web /opt/venv /opt/venv
COPY --from=source /app /app
ENV WEB_PORT=3000
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/djp/healthcheck.py", "http://127.0.0.1:{WEB_PORT}/health"]
CMD ["python", "-m", "services.web"]

# ---------------------------------------------------------------------------------------------------
# essentia-api: audio analysis (BPM, key, energy, mood) on ESSENTIA_PORT.
FROM base AS essentia-api
COPY --from=deps-essentia-api /opt/venv /opt/venv
COPY --from=source /app /app
COPY --from=mood-models /opt/mood-models /opt/mood-models
ENV ESSENTIA_PORT=8001 \
    MOOD_MODELS_DIR=/opt/mood-models
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/djp/healthcheck.py", "http://127.0.0.1:{ESSENTIA_PORT}/health"]
CMD ["python", "-m", "services.essentia_api"]

# ---------------------------------------------------------------------------------------------------
# ga-service: set builder (genetic algorithm and friends) on GA_PORT.
FROM base AS ga-service
COPY --from=deps-ga-service /opt/venv /opt/venv
COPY --from=source /app /app
ENV GA_PORT=8002
USER 10001:10001
EXPOSE 8002
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/djp/healthcheck.py", "http://127.0.0.1:{GA_PORT}/health"]
CMD ["python", "-m", "services.ga_service"]

# ---------------------------------------------------------------------------------------------------
# download-worker: RQ worker (sync, analysis, downloads); yt-dlp needs ffmpeg.
FROM base AS download-worker
# Reason for the ignore: Debian's archive drops superseded versions, so an exact apt pin breaks the
# build within weeks; the base image tag already pins the Debian release (bookworm).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY --from=deps-download-worker /opt/venv /opt/venv
COPY --from=source /app /app
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/opt/djp/healthcheck.py", "--worker"]
CMD ["python", "-m", "services.download_worker"]
