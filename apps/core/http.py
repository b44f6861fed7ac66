"""The client's address, for everything that counts per client: login lockouts (axes),
rate limits (django-ratelimit) and the audit of refused API calls.

Behind reverse proxies every request comes from the nearest proxy, so REMOTE_ADDR names the
proxy, not the client. Each proxy appends the address it received the request from to
X-Forwarded-For; with TRUSTED_PROXY_COUNT proxies in front of Keyship, the client is the
TRUSTED_PROXY_COUNT-th address from the right. Everything left of it was written by the
client and may be forged, so it is never read.
"""

import ipaddress

from django.conf import settings

# Stands for a client whose address cannot be read (REMOTE_ADDR empty, as over a Unix
# socket): such clients share one count, rather than the limits failing with an error.
UNKNOWN_ADDRESS = "0.0.0.0"


def _address(text: str) -> str | None:
    """The address in `text`, also as some proxies write it with a port ("192.0.2.1:5060",
    "[2001:db8::1]:5060"); None when it is not an address."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(request) -> str:
    """The address of the client that sent `request` (a Django or DRF request).

    With TRUSTED_PROXY_COUNT = 0 (the default: no proxy) it is REMOTE_ADDR and the
    X-Forwarded-For header is ignored. A header with fewer addresses than proxies, or with
    something that is not an address where the client should be, means the request did not
    come through every proxy: REMOTE_ADDR is the only address that cannot be forged then.
    """
    remote = _address(request.META.get("REMOTE_ADDR") or "") or UNKNOWN_ADDRESS
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    # The header is as long as the web server lets headers be (a few kilobytes at most).
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(forwarded) < proxies:
        return remote
    return _address(forwarded[-proxies]) or remote
