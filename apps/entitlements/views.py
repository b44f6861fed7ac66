from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.dates import business_today
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
