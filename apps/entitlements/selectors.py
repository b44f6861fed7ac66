from django.db.models import QuerySet

from apps.core import sealing
from apps.core.codes import CodeKind, parse_code
from apps.entitlements.models import Entitlement


def entitlement_by_activation_code(*, text: str) -> QuerySet[Entitlement]:
    """Entitlements whose activation code is `text` as typed (at most one); empty when
    the text is not a well-formed activation code."""
    parsed = parse_code(text)
    if parsed.kind != CodeKind.ACTIVATION_CODE or parsed.mistyped:
        return Entitlement.objects.none()
    return Entitlement.objects.filter(activation_code_digest=sealing.code_digest(parsed.value))


def entitlement_by_ssrn(*, text: str) -> QuerySet[Entitlement]:
    """Entitlements with the SSRN `text` as typed (normalised); at most one."""
    parsed = parse_code(text)
    value = parsed.value if parsed.kind == CodeKind.SSRN else text.strip().upper()
    return Entitlement.objects.filter(ssrn=value)
