"""The client's address, as lockouts, rate limits and the audit read it."""

import pytest
from django.test import RequestFactory

from apps.core.http import client_address


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "10.0.0.1", "203.0.113.5", "10.0.0.1"),  # no proxy: the header is ignored
        (1, "10.0.0.1", "203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.1", "192.0.2.9, 203.0.113.5", "203.0.113.5"),  # left part is forged
        (2, "10.0.0.1", "192.0.2.9, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "10.0.0.1", "203.0.113.5", "10.0.0.1"),  # fewer hops than proxies
        (1, "10.0.0.1", "", "10.0.0.1"),
        (1, "10.0.0.1", "not an address", "10.0.0.1"),
        (1, "10.0.0.1", "203.0.113.5:5060", "203.0.113.5"),
        (1, "10.0.0.1", "[2001:db8::1]:5060", "2001:db8::1"),
        (1, "10.0.0.1", "2001:DB8::1", "2001:db8::1"),
        (1, "10.0.0.1", "x" * 8000, "10.0.0.1"),
        (0, "", "", "0.0.0.0"),  # a Unix socket: one shared count, not an error
    ],
)
def test_the_client_is_the_address_the_trusted_proxies_saw(
    settings, proxies, remote, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected
