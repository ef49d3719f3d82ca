"""The token the web app and worker present to the internal services (analysis, set builder).

One mechanism for all of them: `service_token()` resolves it, clients send `service_auth_headers()`,
and each service installs `services.common.http.require_service_token()` so everything but
/health needs it.
"""

from __future__ import annotations

import hmac
import os
import secrets

from services.common.settings import Settings, get_settings


def service_token(settings: Settings) -> str:
    """The token services use between themselves: SERVICE_TOKEN, else one generated once in DATA_DIR.

    Every local process (and every container sharing the /data volume) reads the same file; it is
    created atomically so processes starting together never see a half-written token.
    """
    if settings.service_token:
        return settings.service_token.get_secret_value()
    path = settings.data_dir / "service_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".service_token.{os.getpid()}")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic, and fails if another process won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer ...` header against the service token."""
    scheme, _, value = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def service_auth_headers(token: str | None = None) -> dict[str, str]:
    """Headers for a client of an internal service."""
    return {"Authorization": f"Bearer {token or service_token(get_settings())}"}
