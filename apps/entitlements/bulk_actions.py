"""Entitlements (by SSRN) and activations (by device serial number) as rows of bulk actions,
and the actions on them: suspend, reinstate, revoke, reissue the certificate, revoke an
activation. Each calls the service its admin action calls."""

from django.db.models import QuerySet
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.bulk import (
    BulkAction,
    RowKind,
    bulk_action_register,
    reason_field,
    row_kind_register,
)
from apps.core.bulk import identifier_plain as plain
from apps.core.codes import CodeKind, parse_code
from apps.core.contracts import Rejected
from apps.core.search_terms import search_term_parse
from apps.core.text import has_control_characters
from apps.entitlements.activations import activations_revoke
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import Activation, Entitlement
from apps.entitlements.services import certificate_reissue


def _ssrn(text: str) -> str:
    if not text:
        raise ValueError(_("no SSRN"))
    parsed = parse_code("" if has_control_characters(text) else text)
    if parsed.kind != CodeKind.SSRN:
        raise ValueError(_("“%(text)s” is not an SSRN") % {"text": plain(text)})
    if parsed.mistyped:
        raise ValueError(
            _("“%(text)s” is not an SSRN: its check character does not match (a typo?)")
            % {"text": plain(text)}
        )
    return parsed.value


def _entitlements() -> QuerySet[Entitlement]:
    return Entitlement.objects.select_related("product", "order_line__order")


def _entitlements_find(keys: list[str]) -> dict:
    return {
        entitlement.ssrn: [entitlement] for entitlement in _entitlements().filter(ssrn__in=keys)
    }


def _serial(text: str) -> str:
    if not text:
        raise ValueError(_("no serial number"))
    serial = search_term_parse(text).serial_number
    if serial is None:
        raise ValueError(
            _(
                "“%(text)s” is not a serial number (2 to 64 letters, digits, dots, dashes, "
                "slashes or underscores)"
            )
            % {"text": plain(text)}
        )
    return serial


def _activations() -> QuerySet[Activation]:
    return Activation.objects.select_related("entitlement")


def _activations_find(keys: list[str]) -> dict:
    """A device's live activations (one per entitlement it is activated on); a device with
    none, its latest revoked one, which the preview says is revoked already."""
    found: dict[str, list[Activation]] = {}
    rows = (
        _activations().filter(serial_number__in=keys).order_by("entitlement__ssrn", "-created_at")
    )
    for activation in rows:
        found.setdefault(activation.serial_number, []).append(activation)
    for serial, activations in found.items():
        live = [a for a in activations if a.revoked_at is None]
        found[serial] = live or [max(activations, key=lambda a: a.revoked_at)]
    return found


def _revoke_activation_check(activation: Activation, params: dict) -> str | None:
    if activation.revoked_at is None:
        return None
    return _("The activation of %(ssrn)s on %(serial)s was revoked on %(date)s already.") % {
        "ssrn": activation.entitlement.ssrn,
        "serial": activation.serial_number,
        "date": date_format(activation.revoked_at, "SHORT_DATE_FORMAT"),
    }


def _revoke_activation(activation: Activation, params: dict, actor) -> str:
    if not activations_revoke(activation_ids=[activation.pk], actor=actor, reason=params["reason"]):
        activation.refresh_from_db()
        raise Rejected([_revoke_activation_check(activation, params) or ""])
    return _("Its seat on %(ssrn)s is free.") % {"ssrn": activation.entitlement.ssrn}


def _lifecycle(service):
    def perform(entitlement: Entitlement, params: dict, actor) -> None:
        service(entitlement_id=entitlement.pk, reason=params["reason"], actor=actor)

    return perform


def _revoke(entitlement: Entitlement, params: dict, actor) -> str:
    live = entitlement.activations.filter(revoked_at__isnull=True).count()
    entitlement_revoke(entitlement_id=entitlement.pk, reason=params["reason"], actor=actor)
    return _("Its live activations end: %(count)d.") % {"count": live}


def _reissue(entitlement: Entitlement, params: dict, actor) -> str:
    certificate = certificate_reissue(entitlement=entitlement, actor=actor, reason=params["reason"])
    return _("Certificate version %(version)d.") % {"version": certificate.version}


def bulk_actions_register() -> None:
    row_kind_register(
        RowKind(
            name="entitlement",
            label=gettext_lazy("Entitlements, by SSRN"),
            column="ssrn",
            normalise=_ssrn,
            find=_entitlements_find,
            identify=lambda entitlement: entitlement.ssrn,
            queryset=_entitlements,
        )
    )
    row_kind_register(
        RowKind(
            name="activation",
            label=gettext_lazy("Activations, by device serial number"),
            column="serial_number",
            normalise=_serial,
            find=_activations_find,
            identify=lambda activation: str(activation),
            queryset=_activations,
        )
    )
    for name, label, permission, service in [
        (
            "suspend",
            gettext_lazy("Suspend (no new activation until reinstated)"),
            "entitlements.suspend_entitlement",
            entitlement_suspend,
        ),
        (
            "reinstate",
            gettext_lazy("Reinstate (lift the suspension)"),
            "entitlements.suspend_entitlement",
            entitlement_reinstate,
        ),
    ]:
        bulk_action_register(
            BulkAction(
                name=name,
                label=label,
                permission=permission,
                kind="entitlement",
                fields=reason_field,
                perform=_lifecycle(service),
            )
        )
    bulk_action_register(
        BulkAction(
            name="revoke",
            label=gettext_lazy("Revoke (final: ends its activations)"),
            permission="entitlements.revoke_entitlement",
            kind="entitlement",
            fields=reason_field,
            perform=_revoke,
        )
    )
    bulk_action_register(
        BulkAction(
            name="reissue",
            label=gettext_lazy("Reissue the certificate (a new version)"),
            permission="entitlements.reissue_certificate",
            kind="entitlement",
            fields=reason_field,
            perform=_reissue,
        )
    )
    bulk_action_register(
        BulkAction(
            name="revoke_activation",
            label=gettext_lazy("Revoke, freeing the seat"),
            permission="entitlements.revoke_activation",
            kind="activation",
            fields=reason_field,
            check=_revoke_activation_check,
            perform=_revoke_activation,
        )
    )
