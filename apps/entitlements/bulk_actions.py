"""Entitlements (by SSRN), activations and rehost requests (by device serial number) as rows
of bulk actions, and the actions on them: suspend, reinstate, revoke, reissue the
certificate, transfer, split; revoke an activation; approve or deny a rehost request. Each
calls the service its admin action calls.

Rehost in bulk is the decision on the portal's requests, not a file of "serial number, new
serial number" pairs: a bulk action's fields are the same for every row (they travel once, in
the signed confirmation), and a request already holds its own replacement serial number, so
approving or denying needs nothing per row. A direct rehost stays one device at a time, on
the activation's page."""

import re

from django import forms
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
from apps.entitlements.models import Activation, Entitlement, RehostRequest, RehostRequestStatus
from apps.entitlements.rehosts import NOTE_MAX_LENGTH, rehost_request_approve, rehost_request_deny
from apps.entitlements.services import certificate_reissue
from apps.entitlements.transfers import (
    MAX_ACCOUNTS,
    accounts_parse,
    entitlement_split,
    entitlement_transfer,
)
from apps.orders.models import AccountRole

TRANSFER_PERMISSION = "entitlements.transfer_entitlement"
REHOST_REQUEST_PERMISSION = "entitlements.change_rehostrequest"


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


class AccountIdsField(forms.CharField):
    """Account IDs typed as one text, separated by commas, semicolons or spaces; cleaned to
    the list of known Account IDs (the first is the end customer), or the reason it is not."""

    def __init__(self, **kwargs):
        super().__init__(
            label=gettext_lazy("Account IDs"),
            max_length=MAX_ACCOUNTS * 21,
            help_text=gettext_lazy(
                "The accounts that will own it, separated by commas or spaces; the first is "
                "the end customer."
            ),
            **kwargs,
        )

    def clean(self, value):
        text = super().clean(value)
        try:
            accounts = accounts_parse([word for word in re.split(r"[,;\s]+", text) if word])
        except Rejected as rejected:
            raise forms.ValidationError(rejected.errors) from None
        return [account.account_id for account in accounts]


def _move_reason() -> forms.CharField:
    return forms.CharField(
        label=gettext_lazy("Reason (kept in the audit log, told to the customer's contacts)"),
        max_length=200,
        strip=True,
    )


def _transfer_fields() -> dict:
    return {"account_ids": AccountIdsField(), "reason": _move_reason()}


def _split_fields() -> dict:
    return {
        "quantity": forms.IntegerField(
            label=gettext_lazy("Seats to move"), min_value=1, max_value=2_000_000_000
        ),
        "account_ids": AccountIdsField(),
        "reason": _move_reason(),
    }


def _owners(entitlement: Entitlement) -> str:
    rows = entitlement.entitlement_accounts.select_related("account").order_by("id")
    return ", ".join(f"{row.account.account_id} ({AccountRole(row.role).label})" for row in rows)


def _transfer(entitlement: Entitlement, params: dict, actor) -> str:
    # The new activation code stays out of the outcome: the preview and the result pages
    # show accounts only, and the code goes to the new owners' contacts by email.
    entitlement_transfer(
        entitlement_id=entitlement.pk,
        account_ids=params["account_ids"],
        reason=params["reason"],
        actor=actor,
    )
    return _(
        "Its accounts: %(owners)s. Their contacts get a new activation code; the old one "
        "stops working."
    ) % {"owners": _owners(entitlement)}


def _split(entitlement: Entitlement, params: dict, actor) -> str:
    # Not the new SSRN: the preview's is rolled back, and the confirmation mints another.
    split = entitlement_split(
        entitlement_id=entitlement.pk,
        quantity=params["quantity"],
        account_ids=params["account_ids"],
        reason=params["reason"],
        actor=actor,
    )
    entitlement.refresh_from_db(fields=["quantity"])
    return _("%(moved)d seat(s) to a new entitlement of %(owners)s; %(kept)d stay on %(ssrn)s.") % {
        "moved": split.quantity,
        "owners": _owners(split),
        "kept": entitlement.quantity,
        "ssrn": entitlement.ssrn,
    }


def _rehost_requests() -> QuerySet[RehostRequest]:
    return RehostRequest.objects.select_related("activation__entitlement", "requested_by")


def _rehost_requests_find(keys: list[str]) -> dict:
    """The pending requests for a failed device (one per entitlement it is activated on); a
    device with none, its latest request, which the preview says is decided already."""
    found: dict[str, list[RehostRequest]] = {}
    rows = _rehost_requests().filter(activation__serial_number__in=keys)
    for request in rows.order_by("activation__entitlement__ssrn", "-pk"):
        found.setdefault(request.activation.serial_number, []).append(request)
    for serial, requests in found.items():
        pending = [r for r in requests if r.status == RehostRequestStatus.PENDING]
        found[serial] = pending or [max(requests, key=lambda r: r.pk)]
    return found


def _rehost_request_name(request: RehostRequest) -> str:
    activation = request.activation
    return (
        f"{activation.entitlement.ssrn} @ {activation.serial_number} -> {request.new_serial_number}"
    )


def _note_field(*, required: bool):
    def fields() -> dict:
        return {
            "note": forms.CharField(
                label=gettext_lazy("Note to the requester"),
                max_length=NOTE_MAX_LENGTH,
                required=required,
                strip=True,
            )
        }

    return fields


def _approve(request: RehostRequest, params: dict, actor) -> str:
    rehost_request_approve(request_id=request.pk, actor=actor, note=params["note"])
    return _(
        "%(serial)s moves to %(new)s on %(ssrn)s: its key is revoked, the replacement gets a "
        "new key, the seats in use are unchanged."
    ) % {
        "serial": request.activation.serial_number,
        "new": request.new_serial_number,
        "ssrn": request.activation.entitlement.ssrn,
    }


def _deny(request: RehostRequest, params: dict, actor) -> str:
    rehost_request_deny(request_id=request.pk, actor=actor, note=params["note"])
    return _("%(email)s is told by email.") % {"email": request.requested_by.email}


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
    row_kind_register(
        RowKind(
            name="rehost_request",
            label=gettext_lazy("Rehost requests, by the failed device's serial number"),
            column="serial_number",
            normalise=_serial,
            find=_rehost_requests_find,
            identify=_rehost_request_name,
            queryset=_rehost_requests,
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
    bulk_action_register(
        BulkAction(
            name="transfer",
            label=gettext_lazy("Transfer to other accounts (a new activation code)"),
            permission=TRANSFER_PERMISSION,
            kind="entitlement",
            fields=_transfer_fields,
            perform=_transfer,
        )
    )
    bulk_action_register(
        BulkAction(
            name="split",
            label=gettext_lazy("Split seats off into a new entitlement"),
            permission=TRANSFER_PERMISSION,
            kind="entitlement",
            fields=_split_fields,
            perform=_split,
        )
    )
    bulk_action_register(
        BulkAction(
            name="approve_rehost",
            label=gettext_lazy("Approve: move the activation to the replacement device"),
            permission=REHOST_REQUEST_PERMISSION,
            kind="rehost_request",
            fields=_note_field(required=False),
            perform=_approve,
        )
    )
    bulk_action_register(
        BulkAction(
            name="deny_rehost",
            label=gettext_lazy("Deny (with a note to the requester)"),
            permission=REHOST_REQUEST_PERMISSION,
            kind="rehost_request",
            fields=_note_field(required=True),
            perform=_deny,
        )
    )
