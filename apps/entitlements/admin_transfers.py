"""The admin's transfer and split pages of an entitlement: a form, a preview of what will
happen (or why it cannot), then the service, once the staff member confirms. Offered only
to staff who may transfer entitlements (Customer Care)."""

import re

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.contracts import Rejected
from apps.entitlements.models import Entitlement
from apps.entitlements.transfers import (
    MAX_ACCOUNTS,
    accounts_parse,
    entitlement_split,
    entitlement_transfer,
    split_plan,
    transfer_plan,
)
from apps.orders.models import AccountRole

TRANSFER_PERMISSION = "entitlements.transfer_entitlement"


def may_transfer(user) -> bool:
    return user.has_perm(TRANSFER_PERMISSION)


def _labelled(pairs) -> list[tuple]:
    return [(account, AccountRole(role).label) for account, role in pairs]


class TransferForm(forms.Form):
    account_ids = forms.CharField(
        label=_("Account IDs"),
        max_length=MAX_ACCOUNTS * 21,
        help_text=_(
            "The accounts that will own it, separated by commas or spaces; the first is the "
            "end customer."
        ),
    )
    reason = forms.CharField(
        label=_("Reason (kept in the audit log, told to the customer's contacts)"),
        max_length=200,
    )

    def __init__(self, *args, entitlement: Entitlement, **kwargs):
        super().__init__(*args, **kwargs)
        self.entitlement = entitlement

    def clean_account_ids(self) -> list[str]:
        return [word for word in re.split(r"[,;\s]+", self.cleaned_data["account_ids"]) if word]

    def plan(self, accounts):
        return transfer_plan(entitlement=self.entitlement, accounts=accounts)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned["plan"] = self.plan(accounts_parse(cleaned["account_ids"]))
        except Rejected as rejected:
            raise ValidationError(rejected.errors) from None
        return cleaned


class SplitForm(TransferForm):
    quantity = forms.IntegerField(label=_("Seats to move"), min_value=1, max_value=2_000_000_000)
    field_order = ["quantity", "account_ids", "reason"]

    def plan(self, accounts):
        return split_plan(
            entitlement=self.entitlement, quantity=self.cleaned_data["quantity"], accounts=accounts
        )


class TransferAdminMixin:
    """For EntitlementAdmin: the transfer and split pages, their buttons on an
    entitlement's page, and the changelist actions that lead to them."""

    change_form_template = "admin/entitlements/entitlement/change_form.html"

    def has_transfer_permission(self, request):
        return may_transfer(request.user)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/transfer/",
                self.admin_site.admin_view(self.transfer_view),
                name="entitlements_entitlement_transfer",
            ),
            path(
                "<path:object_id>/split/",
                self.admin_site.admin_view(self.split_view),
                name="entitlements_entitlement_split",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if may_transfer(request.user):
            extra_context["transfer_url"] = reverse(
                "admin:entitlements_entitlement_transfer", args=[object_id]
            )
            extra_context["split_url"] = reverse(
                "admin:entitlements_entitlement_split", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _one(self, request, queryset, name: str):
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Choose exactly one entitlement for this action."), messages.ERROR
            )
            return None
        self.message_user(
            request,
            gettext("Fill in the form, then check the preview: nothing changes until you confirm."),
            messages.INFO,
        )
        return HttpResponseRedirect(
            reverse(f"admin:entitlements_entitlement_{name}", args=[queryset.get().pk])
        )

    def transfer(self, request, queryset):
        return self._one(request, queryset, "transfer")

    transfer.allowed_permissions = ["transfer"]
    transfer.short_description = _("Transfer to other accounts (preview first)")

    def split(self, request, queryset):
        return self._one(request, queryset, "split")

    split.allowed_permissions = ["transfer"]
    split.short_description = _("Split seats off into a new entitlement (preview first)")

    def transfer_view(self, request, object_id):
        return self._move_view(
            request,
            object_id,
            form_class=TransferForm,
            title=gettext("Transfer %(ssrn)s to other accounts"),
            act=self._transfer,
        )

    def split_view(self, request, object_id):
        return self._move_view(
            request,
            object_id,
            form_class=SplitForm,
            title=gettext("Split seats of %(ssrn)s off into a new entitlement"),
            act=self._split,
        )

    def _transfer(self, request, entitlement, data):
        entitlement_transfer(
            entitlement_id=entitlement.pk,
            account_ids=data["account_ids"],
            reason=data["reason"],
            actor=request.user,
        )
        return entitlement, gettext(
            "%(ssrn)s is transferred; its new activation code and certificate go to the "
            "contacts of its new accounts."
        ) % {"ssrn": entitlement.ssrn}

    def _split(self, request, entitlement, data):
        split = entitlement_split(
            entitlement_id=entitlement.pk,
            quantity=data["quantity"],
            account_ids=data["account_ids"],
            reason=data["reason"],
            actor=request.user,
        )
        return split, gettext("Seats moved from %(source)s to %(ssrn)s: %(quantity)d.") % {
            "quantity": split.quantity,
            "source": entitlement.ssrn,
            "ssrn": split.ssrn,
        }

    def _move_view(self, request, object_id, *, form_class, title, act):
        if not may_transfer(request.user):
            raise PermissionDenied
        object_id = str(unquote(object_id))
        entitlement = (
            Entitlement.objects.select_related("product", "order_line__order")
            .filter(pk=object_id)
            .first()
            # ASCII digits only: "²" is a digit to isdigit() but not a number to int().
            if object_id.isascii() and object_id.isdigit()
            else None
        )
        if entitlement is None:
            raise Http404
        change_url = reverse("admin:entitlements_entitlement_change", args=[entitlement.pk])
        posted = request.method == "POST"
        form = form_class(request.POST if posted else None, entitlement=entitlement)
        valid = posted and form.is_valid()
        if valid and request.POST.get("confirm") == "yes":
            try:
                made, done = act(request, entitlement, form.cleaned_data)
            except Rejected as rejected:  # it changed between the preview and now
                form.add_error(None, rejected.errors)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:entitlements_entitlement_change", args=[made.pk])
                )
        plan = form.cleaned_data.get("plan") if valid and not form.non_field_errors() else None
        owners = getattr(plan, "owners", plan)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title % {"ssrn": entitlement.ssrn},
            "entitlement": entitlement,
            "change_url": change_url,
            "form": form,
            "plan": plan,
            "before": _labelled(owners.before) if owners else [],
            "after": _labelled(owners.after) if owners else [],
            "splitting": form_class is SplitForm,
        }
        return TemplateResponse(request, "admin/entitlements/entitlement/move.html", context)
