"""The pages of sign-in links and of the order addresses they sign in.

Asking for a link and using one are public; the rest is for an order address's session
only (see order_addresses.py): its entitlements, their certificates and key files, read
only, and asking for access to their accounts. Its session holds no login, so every other
page of the portal, the admin and the API refuses it like any visitor.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.actors import UnknownCaller
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.core.http import client_address
from apps.entitlements.models import EntitlementStatus
from apps.entitlements.selectors import license_keys_problem
from apps.portal import downloads
from apps.portal.address_access import order_address_access_request, order_address_requests
from apps.portal.address_forms import (
    OrderAddressAccessForm,
    SignInLinkForm,
    SignInLinkUseForm,
)
from apps.portal.order_addresses import (
    accounts_of_order_address,
    entitlement_list_for_order_address,
    entitlements_of_order_address,
    order_address_of,
    order_address_session_start,
)
from apps.portal.sign_in_links import link_requests_limited, sign_in_link_request, sign_in_link_use
from apps.portal.views import PAGE_SIZE

LIMITED = 429


def _caller(request) -> UnknownCaller:
    return UnknownCaller(client_address(request))


@require_http_methods(["GET", "POST"])
def sign_in_link_ask(request):
    """Ask for a sign-in link by email. Every address gets the same answer; past the limits
    (per address, per client) the page says to wait, and nothing is written or sent."""
    form = SignInLinkForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if link_requests_limited(request):
            form.add_error(
                None,
                _(
                    "Too many sign-in links were asked for this address or from your "
                    "network. Wait an hour, then ask again."
                ),
            )
            return render(request, "portal/sign_in_link_ask.html", {"form": form}, status=LIMITED)
        sign_in_link_request(email=form.cleaned_data["email"], actor=_caller(request))
        return redirect("portal:sign-in-link-sent")
    status = 400 if form.errors else 200
    return render(request, "portal/sign_in_link_ask.html", {"form": form}, status=status)


@require_GET
def sign_in_link_sent(request):
    return render(
        request, "portal/sign_in_link_sent.html", {"minutes": settings.SIGN_IN_LINK_MINUTES}
    )


@sensitive_post_parameters("token", "link")
@require_http_methods(["GET", "POST"])
def sign_in_link_landing(request):
    """Where a link leads. Its GET only shows a button (a mail scanner that opens links uses
    nothing up): the page's script moves the token from the address's fragment into the form,
    or the visitor pastes the link. The POST uses the link up and signs the address in."""
    form = SignInLinkUseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = sign_in_link_use(token=form.token_text(), actor=_caller(request))
        if email is not None:
            order_address_session_start(request=request, email=email)
            return redirect("portal:address-entitlements")
        form.add_error(
            None,
            _(
                "This link does not work any more: it was used, it expired, or a newer link "
                "replaced it. Ask for a new one."
            ),
        )
    status = 400 if form.errors else 200
    return render(request, "portal/sign_in_link_landing.html", {"form": form}, status=status)


def order_address_required(view):
    """For an order address's session only; anyone else is sent to the sign-in page (a
    signed-in contact from there to their own entitlements)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        email = order_address_of(request)
        if email is None:
            return redirect("login")
        request.order_address = email
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@order_address_required
def address_entitlements(request):
    today = business_today()
    rows = entitlement_list_for_order_address(email=request.order_address, today=today)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for entitlement in page:
        entitlement.days = entitlement.days_left(today)
    return render(request, "portal/address/entitlement_list.html", {"page": page})


def _address_entitlement(request, ssrn: str):
    return get_object_or_404(
        entitlements_of_order_address(email=request.order_address)
        .with_status(business_today())
        .select_related("product", "order_line__order"),
        ssrn=ssrn,
    )


@require_GET
@order_address_required
def address_entitlement(request, ssrn: str):
    entitlement = _address_entitlement(request, ssrn)
    entitlement.days = entitlement.days_left(business_today())
    activations = list(entitlement.activations.order_by("-id"))
    keys_problem = license_keys_problem(entitlement=entitlement)
    return render(
        request,
        "portal/address/entitlement_detail.html",
        {
            "entitlement": entitlement,
            "status_label": EntitlementStatus(entitlement.status).label,
            "accounts": entitlement.entitlement_accounts.select_related("account").order_by("role"),
            "terms": entitlement.terms.all(),
            "activations": activations,
            "seats_used": sum(1 for a in activations if a.revoked_at is None),
            "certificate": downloads.ready_certificate(entitlement),
            # A suspended or revoked entitlement hands out no key, its page included.
            "keys_problem": keys_problem,
            "legacy_keys": [] if keys_problem else entitlement.legacy_keys.order_by("pk"),
        },
    )


@require_GET
@order_address_required
def address_certificate(request, ssrn: str):
    return downloads.certificate_download(_address_entitlement(request, ssrn))


@require_GET
@order_address_required
def address_keys(request, ssrn: str):
    return downloads.keys_download(_address_entitlement(request, ssrn))


@require_http_methods(["GET", "POST"])
@order_address_required
def address_access(request):
    """Ask Customer Care for access to an account of the address's entitlements. The first
    request gives the address a login and a contact (see order_address_access_request)."""
    accounts = accounts_of_order_address(email=request.order_address)
    form = OrderAddressAccessForm(
        request.POST if request.method == "POST" else None, accounts=accounts
    )
    if request.method == "POST" and form.is_valid():
        try:
            _request, login_made = order_address_access_request(
                email=request.order_address,
                account=form.cleaned_data["account"],
                reason=form.cleaned_data["reason"],
                language=request.LANGUAGE_CODE,
                actor=_caller(request),
            )
        except Rejected as rejected:
            for error in rejected.errors:
                form.add_error("account", error)
        else:
            messages.success(
                request, _("Your request is with Customer Care. You will hear by email.")
            )
            if login_made:
                messages.info(
                    request,
                    _(
                        "This address now has a Keyship login. Once Customer Care grants "
                        "access, sign in with a password: set one with “Forgot your password” "
                        "on the sign-in page."
                    ),
                )
            return redirect("portal:address-access")
    return render(
        request,
        "portal/address/access.html",
        {"form": form, "requests": order_address_requests(email=request.order_address)},
        status=400 if form.errors else 200,
    )


@require_POST
def address_sign_out(request):
    request.session.flush()
    return redirect("login")
