from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import LargeTableAdmin, ReadOnlyAdminMixin
from apps.core.dates import business_today
from apps.entitlements.models import Activation, Entitlement, EntitlementAccount, EntitlementStatus
from apps.entitlements.selectors import entitlement_by_activation_code, entitlement_by_ssrn


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
    # An activation code is never stored in clear: get_search_results finds it by digest.
    search_fields = [
        "=order_line__order__order_number",
        "=activations__serial_number",
        "=accounts__account_id",
    ]
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

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            for match in (
                entitlement_by_ssrn(text=term),
                entitlement_by_activation_code(text=term),
            ):
                results = results | queryset.filter(pk__in=match.values("pk"))
        return results, may_have_duplicates

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
    search_fields = ["=serial_number", "=entitlement__ssrn"]
    list_select_related = ["entitlement"]
    fields = ["entitlement", "serial_number", "license_key", "created_at", "revoked_at"]
    readonly_fields = fields
