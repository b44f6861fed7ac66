import factory

from apps.catalog.models import DeliveryMethod, LicenseType, Product


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Faker("catch_phrase")
    description = factory.Faker("sentence")
    delivery_method = DeliveryMethod.JAL
    license_type = LicenseType.PERPETUAL
    term_months = None
    instructions_url = "https://docs.keyship.example/licenses/generic"

    class Params:
        subscription = factory.Trait(license_type=LicenseType.SUBSCRIPTION, term_months=12)
