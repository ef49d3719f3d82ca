"""Which URLs a download may fetch: http(s) only, hosts on the allow-list, and never a private,
loopback or link-local address unless configured.

The address rule is checked on the resolved address, when the request is made (`check_url`) and
again for every connection the worker opens (`address_guard`), so a redirect or a DNS answer that
changes between the two cannot reach an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from services.common.settings import Settings, get_settings
from services.domain.errors import Invalid

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddress(OSError):
    """A connection to an address the rules forbid (raised inside the worker's network calls)."""


def allowed_hosts(settings: Settings) -> list[str]:
    return [h.strip().lower().lstrip(".") for h in settings.download_allowed_hosts.split(",") if h.strip()]


def private_allowance(settings: Settings) -> bool | list[Network]:
    """True: every private address allowed; a list: only those networks; False: none."""
    raw = settings.download_allow_private_networks.strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]


def host_allowed(host: str, hosts: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in hosts)


def address_allowed(address: str, allowance: bool | list[Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return True
    if allowance is True:
        return True
    return bool(allowance) and any(ip in net for net in allowance)  # type: ignore[union-attr]


def check_url(url: str, *, settings: Settings | None = None, resolve: bool = True) -> str:
    """The URL if a download may fetch it; `Invalid` (422) naming the reason otherwise."""
    settings = settings or get_settings()
    if len(url) > 2048:
        raise Invalid("the URL is longer than 2048 characters", code="url_refused")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise Invalid("only http and https URLs can be downloaded", code="url_refused")
    host = parts.hostname
    if not host:
        raise Invalid("the URL has no host", code="url_refused")
    if parts.username or parts.password:
        raise Invalid("URLs with credentials are refused", code="url_refused")
    if not host_allowed(host, allowed_hosts(settings)):
        raise Invalid(f"downloads from {host} are not allowed (DOWNLOAD_ALLOWED_HOSTS)", code="url_refused")
    if resolve:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise Invalid("the URL's port is not valid", code="url_refused") from None
        try:
            infos = _real_getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except OSError:
            raise Invalid(f"the host {host} cannot be resolved", code="url_refused") from None
        allowance = private_allowance(settings)
        for info in infos:
            if not address_allowed(str(info[4][0]), allowance):
                raise Invalid(f"{host} resolves to a private or local address ({info[4][0]})", code="url_refused")
    return url.strip()


_real_getaddrinfo = socket.getaddrinfo
_guard_lock = threading.Lock()


@contextmanager
def address_guard(settings: Settings | None = None) -> Iterator[list[str]]:
    """Refuse, for the block's duration, every connection this process opens to a forbidden address.

    Wraps `socket.getaddrinfo`, through which yt-dlp, urllib, requests and httpx all resolve (a
    redirect included). Yields the list of refused addresses, so a failure can say why.
    """
    allowance = private_allowance(settings or get_settings())
    refused: list[str] = []

    def guarded(host, port, *args, **kwargs):
        infos = _real_getaddrinfo(host, port, *args, **kwargs)
        for info in infos:
            address = str(info[4][0])
            if not address_allowed(address, allowance):
                refused.append(f"{host} ({address})")
                raise RefusedAddress(f"refused: {host} resolves to a private or local address ({address})")
        return infos

    with _guard_lock:
        socket.getaddrinfo = guarded
        try:
            yield refused
        finally:
            socket.getaddrinfo = _real_getaddrinfo
