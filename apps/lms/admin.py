from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin import LargeTableAdmin
from apps.lms.models import LegacyKey
from apps.lms.selectors import legacy_key_pools


@admin.register(LegacyKey)
class LegacyKeyAdmin(LargeTableAdmin):
    # Keys are secrets: lists show them masked; the change page shows the whole key.
    list_display = ["product", "masked_key", "state", "entitlement", "assigned_at"]
    list_filter = ["state", "product"]
    search_lookups = ["product__sku", "entitlement__ssrn"]
    search_help_text = _("A SKU, or the SSRN a key was assigned to.")
    list_select_related = ["product", "entitlement"]
    autocomplete_fields = ["product"]
    readonly_fields = ["state", "entitlement", "assigned_at", "created_at", "updated_at"]
    fields = ["product", "license_key", "extra", *readonly_fields]

    @admin.display(description=_("license key"))
    def masked_key(self, obj):
        return obj.masked

    def changelist_view(self, request, extra_context=None):
        # Each pool's counts above the list, with a warning where keys run short.
        return super().changelist_view(
            request, {**(extra_context or {}), "pools": legacy_key_pools()}
        )
