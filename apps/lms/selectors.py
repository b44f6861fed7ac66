from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, Sum

from apps.catalog.models import DeliveryMethod, Product
from apps.lms.models import LegacyKeyState
from apps.orders.models import LineStatus, OrderLine


@dataclass
class Pool:
    product: Product
    available: int
    assigned: int
    needed: int

    @property
    def warning(self) -> bool:
        """Too few keys for the lines waiting to ship, or below the threshold."""
        return self.available < self.needed or self.available < settings.LEGACY_KEY_POOL_WARNING


def legacy_key_pools() -> list[Pool]:
    """Every pool of a product that ships with legacy keys: keys available and assigned, and
    the keys that open or waiting lines will need."""
    products = Product.objects.filter(delivery_method=DeliveryMethod.HERITAGE_KEY).annotate(
        available=Count("legacy_keys", filter=Q(legacy_keys__state=LegacyKeyState.AVAILABLE)),
        assigned=Count("legacy_keys", filter=Q(legacy_keys__state=LegacyKeyState.ASSIGNED)),
    )
    needed = dict(
        OrderLine.objects.filter(
            Q(status=LineStatus.OPEN) | Q(status=LineStatus.BLOCKED, waiting_for_keys__gt=0),
            product__delivery_method=DeliveryMethod.HERITAGE_KEY,
            renews_ssrn="",
        )
        .values_list("product_id")
        .annotate(total=Sum("quantity"))
    )
    return [
        Pool(product=p, available=p.available, assigned=p.assigned, needed=needed.get(p.pk, 0))
        for p in products.order_by("sku")
    ]
