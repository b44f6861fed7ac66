"""The catalog file, shared by `import_catalog` and the API."""

from rest_framework import serializers

from apps.catalog.models import DeliveryMethod, LicenseType
from apps.core import contracts


class ProductIn(serializers.Serializer):
    sku = contracts.TextField(max_length=64)
    name = contracts.TextField(max_length=200)
    description = contracts.TextField(allow_blank=True, default="", multiline=True)
    delivery_method = serializers.ChoiceField(
        choices=DeliveryMethod.choices, default=DeliveryMethod.JAL
    )
    license_type = serializers.ChoiceField(
        choices=LicenseType.choices, default=LicenseType.PERPETUAL
    )
    term_months = serializers.IntegerField(
        min_value=1, max_value=600, allow_null=True, default=None
    )
    renews_sku = contracts.TextField(max_length=64, allow_null=True, allow_blank=True, default=None)
    instructions_url = contracts.URLField(allow_blank=True, default="")

    def validate(self, data):
        subscription = data["license_type"] == LicenseType.SUBSCRIPTION
        if subscription and not data["term_months"]:
            raise serializers.ValidationError(
                {"term_months": "a subscription needs a term in months"}
            )
        if not subscription and data["term_months"]:
            raise serializers.ValidationError({"term_months": "a perpetual license has no term"})
        if data["renews_sku"] and not subscription:
            raise serializers.ValidationError({"renews_sku": "only a subscription can renew"})
        return data


class CatalogFile(serializers.Serializer):
    products = ProductIn(many=True, allow_empty=False)
