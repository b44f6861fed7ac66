from apps.catalog.models import DeliveryMethod
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import license_keys_file


def entitlement_keys_file(*, entitlement: Entitlement) -> tuple[str, str]:
    """The keys a customer installs: the signed keys of its activations, or for a heritage
    product the legacy keys it shipped with (the same file the Fulfillment Email attached)."""
    if entitlement.product.delivery_method == DeliveryMethod.HERITAGE_KEY:
        keys = entitlement.legacy_keys.order_by("pk").values_list("license_key", flat=True)
        return f"license-keys-{entitlement.ssrn}.txt", "".join(f"{key}\n" for key in keys)
    return license_keys_file(entitlement=entitlement)
