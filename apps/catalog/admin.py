from django.contrib import admin
from django.db import models

from apps.catalog.models import Product
from apps.catalog.services import product_save
from apps.core.admin import ServiceRefused, ServiceSavedAdminMixin
from apps.core.contracts import Rejected


@admin.register(Product)
class ProductAdmin(ServiceSavedAdminMixin, admin.ModelAdmin):
    """Products are saved by product_save: the catalog file's contract and rules, audited."""

    list_display = [
        "sku",
        "name",
        "delivery_method",
        "license_type",
        "term_months",
        "renews",
        "is_active",
    ]
    list_filter = ["delivery_method", "license_type", "is_active"]
    search_fields = ["sku", "name"]
    list_select_related = ["renews"]
    autocomplete_fields = ["renews"]
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_readonly_fields(self, request, obj=None):
        # The SKU is what the ERP, the files and the key pools know the product by.
        return [*self.readonly_fields, "sku"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        row = {
            "sku": obj.sku,
            "name": obj.name,
            "description": obj.description,
            "delivery_method": obj.delivery_method,
            "license_type": obj.license_type,
            "term_months": obj.term_months,
            "renews_sku": obj.renews.sku if obj.renews_id else None,
            "instructions_url": obj.instructions_url,
        }
        try:
            saved = product_save(
                row=row,
                is_active=obj.is_active,
                product=obj if change else None,
                actor=request.user,
            )
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk = saved.pk
