from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from apps.core.dates import business_today
from apps.entitlements.license_keys import public_key_set
from apps.entitlements.models import EntitlementStatus
from apps.entitlements.selectors import entitlement_by_ssrn


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
