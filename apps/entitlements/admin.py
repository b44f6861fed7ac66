from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import LargeTableAdmin, ReadOnlyAdminMixin
from apps.core.dates import business_today
from apps.entitlements.models import Activation, Entitlement, EntitlementAccount, EntitlementStatus
from apps.entitlements.selectors import entitlement_ids_for_term


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return EntitlementStatus.choices

    def queryset(self, request, queryset):
        if self.value() in EntitlementStatus.values:
            return queryset.filter(status=self.value())
        return queryset


class EntitlementAccountInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EntitlementAccount
    fields = ["account", "role"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("accounts that see this entitlement")


class ActivationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Activation
    fields = ["serial_number", "created_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Entitlement)
class EntitlementAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = [
        "ssrn",
        "product",
        "quantity",
        "status_display",
        "starts_on",
        "term_ends_on",
        "order_line",
    ]
    list_filter = [StatusFilter, "product__delivery_method", "product__license_type", "starts_on"]
    search_lookups = ["ssrn"]  # the box; search_ids reads every key
    search_help_text = _(
        "An SSRN, an activation code, an order number, a device serial number or an Account ID."
    )
    list_select_related = ["product", "order_line__order"]
    inlines = [EntitlementAccountInline, ActivationInline]
    fields = [
        "ssrn",
        "activation_code",
        "product",
        "order_line",
        "quantity",
        "status_display",
        "starts_on",
        "term_ends_on",
        "grace_ends_on",
        "revoked_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).with_status(business_today())

    def search_ids(self, term):
        return entitlement_ids_for_term(term=term, limit=self.search_limit)

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "accounts__account_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        return EntitlementStatus(obj.status).label

    @admin.display(description=_("activation code"))
    def activation_code(self, obj):
        return obj.activation_code

    def get_fields(self, request, obj=None):
        if request.user.has_perm("entitlements.view_activation_code"):
            return self.fields
        return [field for field in self.fields if field != "activation_code"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ["entitlement", "serial_number", "created_at", "revoked_at"]
    list_filter = ["created_at"]
    search_lookups = ["serial_number", "entitlement__ssrn"]
    search_help_text = _("A device serial number or an SSRN.")
    list_select_related = ["entitlement"]
    fields = ["entitlement", "serial_number", "license_key", "created_at", "revoked_at"]
    readonly_fields = fields
