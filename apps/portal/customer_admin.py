"""The customer admin's pages: pending access requests for the accounts they administer,
and who is associated with those accounts.

A login that administers no account gets 404 here, as does a request or an association of
an account it does not administer (whether that exists is not told). The services check
again, under locks, at the moment of the change (apps/accounts/customer_admins.py).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.customer_admins import (
    NOTE_MAX_LENGTH,
    access_request_for_customer_admin,
    access_requests_decide_as_customer_admin,
    account_association_remove_as_customer_admin,
    association_for_customer_admin,
    customer_admin_overview,
)
from apps.core.contracts import Rejected
from apps.portal.forms import CustomerAdminDecisionForm


def _not_an_admin():
    return Http404(_("You are not a customer admin of any account."))


@require_GET
@login_required
def overview(request):
    accounts = customer_admin_overview(user=request.user)
    if not accounts:
        raise _not_an_admin()
    return render(
        request,
        "portal/customer_admin.html",
        {"accounts": accounts, "note_max_length": NOTE_MAX_LENGTH},
    )


@require_POST
@login_required
def decide(request, pk: int):
    access_request = access_request_for_customer_admin(user=request.user, pk=pk)
    if access_request is None:
        raise Http404(_("No such access request among those of your accounts."))
    form = CustomerAdminDecisionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                label = form.fields[field].label or field
                messages.error(request, f"{label}: {error}")
        return redirect("portal:customer-admin")
    approve = form.cleaned_data["decision"] == "approve"
    try:
        access_requests_decide_as_customer_admin(
            request_ids=[access_request.pk],
            approve=approve,
            note=form.cleaned_data["note"],
            actor=request.user,
        )
    except Rejected as rejected:
        for error in rejected.errors:
            messages.error(request, error)
    else:
        text = (
            _("Approved: %(email)s now sees account %(account_id)s. They are told by email.")
            if approve
            else _("Denied: %(email)s does not see account %(account_id)s. They are told by email.")
        )
        messages.success(
            request,
            text
            % {
                "email": access_request.contact.email,
                "account_id": access_request.requested_account_id,
            },
        )
    return redirect("portal:customer-admin")


@require_POST
@login_required
def remove(request, pk: int):
    association = association_for_customer_admin(user=request.user, pk=pk)
    if association is None:
        raise Http404(_("No such contact among those of your accounts."))
    try:
        account_association_remove_as_customer_admin(association_id=pk, actor=request.user)
    except Rejected as rejected:
        for error in rejected.errors:
            messages.error(request, error)
    else:
        messages.success(
            request,
            _("%(email)s no longer sees account %(account_id)s.")
            % {"email": association.contact.email, "account_id": association.account.account_id},
        )
    return redirect("portal:customer-admin")
