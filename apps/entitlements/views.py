import datetime
import hashlib

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.core import get_usage

from apps.core import metrics
from apps.core.dates import business_today
from apps.entitlements.key_refresh import RefreshStatus, license_key_refresh
from apps.entitlements.license_keys import (
    TIME_FORMAT,
    LicenseKeyInvalid,
    license_key_verify,
    public_key_set,
)
from apps.entitlements.models import EntitlementStatus
from apps.entitlements.revocations import revocation_list_published
from apps.entitlements.selectors import entitlement_by_ssrn

# A license key is a few hundred bytes; a body larger than this is not one.
MAX_KEY_BYTES = 4096


@require_GET
def entitlement_verify(request, ssrn: str):
    """Public: confirms that an SSRN is genuine, without revealing the activation code or
    the customer."""
    entitlement = (
        entitlement_by_ssrn(text=ssrn)
        .with_status(business_today())
        .select_related("product")
        .first()
    )
    return render(
        request,
        "entitlements/verify.html",
        {
            "entitlement": entitlement,
            "status": EntitlementStatus(entitlement.status).label if entitlement else "",
            "ssrn": ssrn,
        },
        status=200 if entitlement else 404,
    )


@require_GET
@cache_control(public=True, max_age=3600)
def license_public_keys(request):
    """Public: the keys that verify license keys, current and retired, as a JSON Web Key Set."""
    return JsonResponse(public_key_set())


@require_GET
def license_key_revocations(request):
    """Public: the signed list of every key of a revoked activation (revocations.py), cached
    by clients until its next_update."""
    document = revocation_list_published()
    response = JsonResponse(document)
    next_update = datetime.datetime.strptime(document["next_update"], TIME_FORMAT)
    left = next_update.replace(tzinfo=datetime.UTC) - timezone.now()
    patch_cache_control(response, public=True, max_age=max(0, int(left.total_seconds())))
    return response


REFRESH_ANSWERS = {
    RefreshStatus.INVALID: 400,
    RefreshStatus.SUSPENDED: 403,
    RefreshStatus.EXPIRED: 403,
    RefreshStatus.REVOKED: 410,
}


def _refusal(status: str, http_status: int, **headers) -> JsonResponse:
    messages = {
        RefreshStatus.INVALID: _(
            "This is not a license key that Keyship issued to this device, or it was changed."
        ),
        RefreshStatus.REVOKED: _(
            "The license of this device was revoked: the key is not refreshed. Please "
            "contact Customer Care."
        ),
        RefreshStatus.SUSPENDED: _(
            "The entitlement is suspended: its license keys are not refreshed until it is "
            "reinstated. Please contact Customer Care."
        ),
        RefreshStatus.EXPIRED: _(
            "The subscription has ended: renew it to get a fresh license key."
        ),
        "too_large": _("This is not a license key: it is too large."),
        "rate_limited": _("Too many refreshes. Try again later."),
    }
    response = JsonResponse({"status": status, "message": messages[status]}, status=http_status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _limited(request, *, group: str, key, rate: str) -> int | None:
    """Seconds to wait when this request is past the rate (every request counts), else None."""
    usage = get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
    if usage is not None and usage["should_limit"]:
        metrics.rate_limited.labels(limit=metrics.LIMIT_LICENSE_KEY_REFRESH).inc()
        return max(1, usage["time_left"])
    return None


def _device(key):
    # The device the key is for, as the rate limit counts it (a digest: no SSRN in the cache).
    return lambda group, request: hashlib.sha256(f"{key.ssrn}\n{key.serial}".encode()).hexdigest()


@csrf_exempt  # a device has no session: the key in the body is its only credential
@require_POST
def license_key_refresh_view(request):
    """Public, for devices: the body (text/plain) is the device's current license key; the
    answer a fresh key (text/plain), or JSON {"status", "message"} saying why not. The key is
    never logged, and a refusal says nothing of the records beyond its status."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_KEY_BYTES:
        return _refusal("too_large", 413)
    wait = _limited(
        request,
        group="license-key-refresh.client",
        key="ip",  # the client's address (RATELIMIT_IP_META_KEY)
        rate=settings.LICENSE_KEY_REFRESH_CLIENT_RATE,
    )
    if wait:
        return _refusal("rate_limited", 429, Retry_After=str(wait))
    body = request.body
    if len(body) > MAX_KEY_BYTES:
        return _refusal("too_large", 413)
    try:
        text = body.decode("utf-8")
        key = license_key_verify(text)
    except (UnicodeDecodeError, LicenseKeyInvalid):
        metrics.license_key_refreshes.labels(status=RefreshStatus.INVALID).inc()
        return _refusal(RefreshStatus.INVALID, 400)
    # Per device only once the key is genuine: a forged key cannot use up a device's refreshes.
    wait = _limited(
        request,
        group="license-key-refresh.device",
        key=_device(key),
        rate=settings.LICENSE_KEY_REFRESH_RATE,
    )
    if wait:
        return _refusal("rate_limited", 429, Retry_After=str(wait))
    refresh = license_key_refresh(text=text)
    if refresh.status != RefreshStatus.REFRESHED:
        return _refusal(refresh.status, REFRESH_ANSWERS[refresh.status])
    return HttpResponse(refresh.license_key, content_type="text/plain; charset=utf-8")
