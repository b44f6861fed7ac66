"""The pages for people who hold a code but may not see the account: an installer
activating devices with an activation code, and the legacy License Management System's key
retrieval with an authorization code. Both are rate-limited per user and per address."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from apps.core import metrics
from apps.core.contracts import Rejected
from apps.entitlements.activations import activations_create, serial_numbers_parse
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import entitlement_by_activation_code
from apps.lms.services import legacy_key_retrieve
from apps.portal.forms import ActivationCodeForm, LegacyKeyForm


def _activation_code_rate(group, request) -> str:
    return settings.ACTIVATION_CODE_RATE


def code_attempts_limited(view):
    """Both limits on guessing codes: per user and per client address (POSTs only)."""
    view = ratelimit(key="ip", rate=_activation_code_rate, method="POST", block=False)(view)
    return ratelimit(key="user", rate=_activation_code_rate, method="POST", block=False)(view)


def _code_holders_entitlement(request, form, field: str, unknown: str) -> Entitlement | None:
    """The entitlement whose code a posted form names; None once the form says why not
    (too many attempts, a malformed or mistyped code, or a code nobody has)."""
    if getattr(request, "limited", False):
        metrics.rate_limited.labels(limit=metrics.LIMIT_ACTIVATION_CODE).inc()
        form.is_valid()
        form.add_error(None, _("Too many attempts. Wait a minute, then try again."))
        return None
    if not form.is_valid():
        return None
    entitlement = entitlement_by_activation_code(text=form.cleaned_data[field]).first()
    if entitlement is None:
        form.add_error(field, unknown)
    return entitlement


def _code_page_status(request, form) -> int:
    if getattr(request, "limited", False):
        return 429
    return 400 if form.errors else 200


@require_http_methods(["GET", "POST"])
@login_required
@code_attempts_limited
def activate_with_code(request):
    """Activation by anyone who holds the activation code (an installer at a partner)."""
    form = ActivationCodeForm(request.POST if request.method == "POST" else None)
    context = {"form": form}
    if request.method == "POST":
        entitlement = _code_holders_entitlement(
            request,
            form,
            "activation_code",
            _(
                "No entitlement has this activation code. It is well formed, so check "
                "that it comes from the right email or certificate."
            ),
        )
        if entitlement is not None:
            try:
                serials = serial_numbers_parse(form.cleaned_data["serial_numbers"])
                context["activated"] = activations_create(
                    entitlement_id=entitlement.pk, serial_numbers=serials, actor=request.user
                )
                context["entitlement"] = entitlement
            except Rejected as rejected:
                for error in rejected.errors:
                    form.add_error("serial_numbers", error)
        if "activated" in context and request.POST.get("download"):
            filename, text = key_file(
                ssrn=entitlement.ssrn,
                keys=[activation.license_key for activation in context["activated"]],
            )
            response = HttpResponse(text, content_type="text/plain; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
    status = _code_page_status(request, form)
    return render(request, "portal/activate.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
@code_attempts_limited
def legacy_key_retrieval(request):
    """The legacy License Management System's page: authorization code and serial number
    give a key from the product's pool, bound to that serial."""
    form = LegacyKeyForm(request.POST if request.method == "POST" else None)
    context = {"form": form}
    if request.method == "POST":
        entitlement = _code_holders_entitlement(
            request,
            form,
            "authorization_code",
            _(
                "No entitlement has this authorization code. It is well formed, so check "
                "that it comes from the right email or certificate."
            ),
        )
        if entitlement is not None:
            try:
                context["key"] = legacy_key_retrieve(
                    entitlement_id=entitlement.pk,
                    serial_number=form.cleaned_data["serial_number"],
                    actor=request.user,
                )
            except Rejected as rejected:
                for error in rejected.errors:
                    form.add_error(None, error)
    status = _code_page_status(request, form)
    return render(request, "portal/legacy_keys.html", context, status=status)
