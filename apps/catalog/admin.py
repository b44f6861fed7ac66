from django.contrib import admin
from django.db import models

from apps.catalog.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
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
