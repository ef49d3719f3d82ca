# DJ Playlist: `make up` runs everything locally on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS := embedded,web,analysis,worker,ga
STAMP := $(VENV)/.installed-$(EXTRAS)
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: up down install install-dev test apt-test-deps lint bench clean images release

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PIP) install --quiet -e ".[$(EXTRAS),dev]"
	# pyrekordbox reads exported Rekordbox XML back in the tests; its construct>=2.10 clashes with gamdl's
	# pinned construct 2.8.8, so it goes in without dependencies (tests load only its stdlib XML reader).
	$(PIP) install --quiet --no-deps "pyrekordbox==0.5.0"
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

## Start embedded PostgreSQL + Redis (unless DATABASE_URL / REDIS_URL are set), migrate, run every service.
up: install
	$(PY) scripts/stack.py up

## Stop a stack started by `make up` from another terminal.
down:
	$(PY) scripts/stack.py down

## Debian packages the tests need (ffmpeg, fluidsynth, ...): installed when missing and we are root.
apt-test-deps:
	@missing=$$(grep -v '^#' .ci/apt-packages.txt | grep -v '^$$' | while read -r p; do dpkg -s "$$p" >/dev/null 2>&1 || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "missing Debian packages (install them as root): $$missing"; exit 1; fi; \
	fi

## Build every Dockerfile target with podman (stand-in base from Debian) and start each image's command.
images: install
	$(PY) scripts/images.py build
	$(PY) scripts/images.py sizes

test: apt-test-deps install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(PY) -m ruff check services tests scripts bench

bench: install-dev
	@echo "see docs/benchmarks.md for each benchmark's command"

## Prepare release X.Y.Z: version, prod image tags, CHANGELOG; prints the tag command (scripts/release.py).
release:
	@if [ -z "$(VERSION)" ]; then echo "usage: make release VERSION=X.Y.Z"; exit 2; fi
	$(PYTHON) scripts/release.py $(VERSION)

clean:
	rm -rf $(VENV) .pytest_cache
