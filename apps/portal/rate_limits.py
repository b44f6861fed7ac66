"""The public forms that send an email to an address typed into them ("Forgot your password",
"Sign in with a link"), held to a rate per address and per client address."""

from collections.abc import Callable

from django_ratelimit.core import is_ratelimited

from apps.core import metrics


def email_requests_limited(
    request,
    *,
    group: str,
    address: Callable[[object], str],
    per_address: str,
    per_client: str,
    limit: str,
) -> bool:
    """Whether this POST is past either limit (`group`.client by the client's address,
    `group`.address by `address(request)`, a spelling of the address that every spelling
    shares); every request is counted against both, and a hit counts in /metrics as `limit`."""
    past_client = is_ratelimited(
        request,
        group=f"{group}.client",
        key="ip",  # the client's address (RATELIMIT_IP_META_KEY)
        rate=per_client,
        method="POST",
        increment=True,
    )
    past_address = is_ratelimited(
        request,
        group=f"{group}.address",
        key=lambda _group, request: address(request),
        rate=per_address,
        method="POST",
        increment=True,
    )
    if past_client or past_address:
        metrics.rate_limited.labels(limit=limit).inc()
        return True
    return False
