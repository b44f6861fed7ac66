from apps.catalog.models import DeliveryMethod
from apps.core.sealing import unseal
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import license_keys_file


def entitlement_keys_file(*, entitlement: Entitlement) -> tuple[str, str]:
    """The keys a customer installs: the signed keys of its activations, or for a heritage
    product its legacy keys (those it shipped with, the file the Fulfillment Email attached,
    or those retrieved for devices from the legacy LMS page)."""
    if entitlement.product.delivery_method in (
        DeliveryMethod.HERITAGE_KEY,
        DeliveryMethod.LEGACY_LMS,
    ):
        sealed = entitlement.legacy_keys.order_by("pk").values_list("license_key_sealed", flat=True)
        keys = [unseal(token) for token in sealed]
        return key_file(ssrn=entitlement.ssrn, keys=keys)
    return license_keys_file(entitlement=entitlement)
