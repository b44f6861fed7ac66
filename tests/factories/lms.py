import factory

from apps.lms.models import LegacyKey
from tests.factories.catalog import ProductFactory


class LegacyKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegacyKey

    product = factory.SubFactory(ProductFactory, delivery_method="heritage_key")
    license_key = factory.Sequence(lambda n: f"LEGACY-{n:06d}-ABCDEF")
