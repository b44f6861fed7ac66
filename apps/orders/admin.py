"""The order admins' common parts. They are registered by apps/fulfillment/admin.py, which
adds what Operations does with orders (ship now, shipments, emails)."""

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Account
from apps.core.admin import LargeTableAdmin
from apps.orders.models import (
    SINGLE_ROLES,
    AccountRole,
    LineStatus,
    OrderAccount,
    OrderEmail,
    OrderLine,
)
from apps.orders.selectors import sales_order_has_shipped

# A fulfilled line has made its entitlement; a cancelled one is over. Neither changes.
FINAL_STATUSES = (LineStatus.FULFILLED, LineStatus.CANCELLED)
LINE_FIELDS = ["line_number", "product", "quantity", "requested_ship_date", "renews_ssrn"]


class RecipientsInline(admin.TabularInline):
    """An order's accounts and addresses decide who receives its activation codes: on an
    existing order only staff who may see codes change them here (a new order is filled in
    by whoever creates it); once a line has shipped nobody does. Read-only otherwise."""

    extra = 0

    def _may_change(self, request, obj) -> bool:
        if obj is None or obj.pk is None:
            return True
        return request.user.has_perm(
            "entitlements.view_activation_code"
        ) and not sales_order_has_shipped(order=obj)

    def has_add_permission(self, request, obj=None):
        return self._may_change(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_change(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_change(request, obj) and super().has_delete_permission(request, obj)


class OrderAccountFormSet(BaseInlineFormSet):
    """One sold-to and one end customer; partners and distributors as many as needed, each
    account once per role. Said on the row at fault, before the database refuses it."""

    def clean(self):
        super().clean()
        roles: set[str] = set()
        pairs: set[tuple[int, str]] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("account") or not data.get("role"):
                continue
            role, account = data["role"], data["account"]
            if not isinstance(account, Account):
                # A read-only row (a shipped order's) is cleaned as its stored initial
                # values, the account's primary key: the row itself holds the account.
                account = form.instance.account
            label = AccountRole(role).label
            if role in SINGLE_ROLES and role in roles:
                form.add_error(
                    "role",
                    gettext(
                        "An order has only one “%(role)s” account: remove this row or the other."
                    )
                    % {"role": label},
                )
            elif (account.pk, role) in pairs:
                form.add_error(
                    "account",
                    gettext("%(account)s is already on this order as “%(role)s”.")
                    % {"account": account.account_id, "role": label},
                )
            roles.add(role)
            pairs.add((account.pk, role))


class OrderAccountInline(RecipientsInline):
    model = OrderAccount
    formset = OrderAccountFormSet
    autocomplete_fields = ["account"]


class OrderEmailInline(RecipientsInline):
    model = OrderEmail


class OrderLineInlineForm(forms.ModelForm):
    """A line's number names it for good; a fulfilled or cancelled line shows its values and
    takes none (the order's page says why, and which actions change lines)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        final = self.instance.status in FINAL_STATUSES
        for name in LINE_FIELDS if final else ["line_number"]:
            if name in self.fields:
                self.fields[name].disabled = True


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    form = OrderLineInlineForm
    extra = 0
    fields = [
        "line_number",
        "product",
        "quantity",
        "requested_ship_date",
        "renews_ssrn",
        "status",
        "status_reason",
        "fulfilled_at",
    ]
    readonly_fields = ["status", "status_reason", "fulfilled_at"]
    autocomplete_fields = ["product"]

    def has_delete_permission(self, request, obj=None):
        return False  # lines are cancelled, never deleted


class SalesOrderAdminBase(LargeTableAdmin):
    list_display = ["order_number", "language", "account_list", "line_count", "created_at"]
    list_filter = ["language", "created_at"]
    search_lookups = ["order_number", "order_accounts__account__account_id", "emails__email__lower"]
    search_help_text = _("An order number, an Account ID or an email address.")
    readonly_fields = ["created_at", "updated_at"]
    inlines = [OrderAccountInline, OrderEmailInline, OrderLineInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("order_accounts__account", "lines")

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "order_accounts__account__account_id" or super().lookup_allowed(
            lookup, value, request
        )

    @admin.display(description=_("accounts"))
    def account_list(self, obj):
        return ", ".join(
            f"{a.account.account_id} ({a.get_role_display()})" for a in obj.order_accounts.all()
        )

    @admin.display(description=_("lines"))
    def line_count(self, obj):
        return len(obj.lines.all())


class OrderLineAdminBase(LargeTableAdmin):
    list_display = [
        "__str__",
        "product",
        "quantity",
        "requested_ship_date",
        "status",
        "status_reason",
        "fulfilled_at",
    ]
    list_filter = ["status", "requested_ship_date", "product__delivery_method"]
    search_lookups = ["order__order_number", "product__sku"]
    search_help_text = _("An order number or a SKU.")
    list_select_related = ["order", "product"]
    autocomplete_fields = ["order", "product"]
    readonly_fields = [
        "status",
        "status_reason",
        "fulfilled_at",
        "shipment",
        "created_at",
        "updated_at",
    ]
    ordering = ["-id"]  # newest first, on the primary key's index
    # No date_hierarchy: it aggregates the dates of every line on each page view.

    def has_delete_permission(self, request, obj=None):
        return False
