"""Which URLs a download may fetch: scheme, host allow-list, resolved private addresses, redirects."""

from __future__ import annotations

import socket

import pytest

from services.common.settings import Settings
from services.domain.downloads.urls import RefusedAddress, address_guard, check_url
from services.domain.errors import Invalid


def _settings(**values: str) -> Settings:
    base = {"DOWNLOAD_ALLOWED_HOSTS": "youtube.com,127.0.0.1,127.0.0.2,169.254.169.254,localhost",
            "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "false"}
    return Settings(**{**base, **values})


@pytest.mark.parametrize("url, words", [
    ("ftp://youtube.com/x", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("https://evil.example/x.mp3", "not allowed"),
    ("https://youtube.com.evil.example/x", "not allowed"),
    ("https://user:pw@youtube.com/x", "credentials"),
    ("http://127.0.0.1:8080/x.mp3", "private or local"),
    ("http://169.254.169.254/latest/meta-data", "private or local"),
    ("http://localhost/x", "private or local"),
    ("https://" + "a" * 2100, "longer than"),
])
def test_refused_urls_name_the_reason(url, words):
    with pytest.raises(Invalid) as caught:
        check_url(url, settings=_settings())
    assert words in caught.value.detail
    assert caught.value.code == "url_refused"


def test_subdomains_of_allowed_hosts_pass_without_resolving():
    assert check_url("https://music.youtube.com/watch?v=x", settings=_settings(), resolve=False)
    assert check_url(" https://www.youtube.com/watch?v=x ", settings=_settings(), resolve=False) == \
        "https://www.youtube.com/watch?v=x"


def test_listed_private_networks_only():
    allow_one = _settings(DOWNLOAD_ALLOW_PRIVATE_NETWORKS="127.0.0.1/32")
    assert check_url("http://127.0.0.1:8000/a.mp3", settings=allow_one)
    with pytest.raises(Invalid):
        check_url("http://127.0.0.2:8000/a.mp3", settings=allow_one)
    assert check_url("http://127.0.0.2:8000/a.mp3", settings=_settings(DOWNLOAD_ALLOW_PRIVATE_NETWORKS="true"))


def test_guard_refuses_connections_to_private_addresses_and_restores_resolution():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with address_guard(_settings(DOWNLOAD_ALLOW_PRIVATE_NETWORKS="127.0.0.1/32")) as refused:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()  # allowed network
            with pytest.raises(RefusedAddress):
                socket.create_connection(("127.0.0.2", port), timeout=2)
        assert refused and refused[0].startswith("127.0.0.2")
        with address_guard(_settings()):
            with pytest.raises(RefusedAddress):
                socket.create_connection(("localhost", port), timeout=2)  # a name resolving to loopback
    assert socket.getaddrinfo("127.0.0.2", 80)  # the guard is gone after the block
