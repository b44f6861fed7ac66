"""An entitlement's event log, as its customer reads it in the portal.

The log is the entitlement's change feed (EntitlementChange), told in the customer's words:
each kind of change has its wording here, with the details a customer may see (serial
numbers, the new term end, the reason Customer Care gave for a suspension) and never the
feed's codes, keys or raw data, nor who at Keyship did it (the audit keeps that). A kind this
module does not know shows a generic line.

What a change names beyond the entitlement (the accounts of a transfer, the other entitlement
of a split) is shown only as far as the viewer may know it: an Account ID the viewer is
associated with, an SSRN the viewer sees; anything else is "another account", "a new
entitlement".
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.db.models import CharField, Value
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from apps.accounts.models import AccountAssociation
from apps.entitlements.models import Entitlement, EntitlementChange, EntitlementStatus
from apps.entitlements.selectors import entitlements_visible_to

# The page shows the latest changes; an entitlement activated device by device may have
# thousands, which no one reads on one page.
LOG_LIMIT = 100
# Serial numbers shown for one activation before "and N more".
SERIALS_SHOWN = 10

# The customer's word for each kind of change, by the kind's value in the feed (in the
# catalogs' context "event log": the same words name the kinds for staff elsewhere). Kinds that
# other work adds (transferred, split, rehosted) are named here already, so they read well
# as soon as they are recorded.
KIND_TITLES = {
    "created": pgettext_lazy("event log", "Shipped"),
    "activated": pgettext_lazy("event log", "Devices activated"),
    "activation_revoked": pgettext_lazy("event log", "Device activation revoked"),
    "renewed": pgettext_lazy("event log", "Renewed"),
    "status_changed": pgettext_lazy("event log", "Status changed"),
    "certificate_reissued": pgettext_lazy("event log", "Certificate reissued"),
    "paper_delivery_recorded": pgettext_lazy("event log", "Paper delivery recorded"),
    "suspended": pgettext_lazy("event log", "Suspended"),
    "reinstated": pgettext_lazy("event log", "Reinstated"),
    "revoked": pgettext_lazy("event log", "Revoked"),
    "transferred": pgettext_lazy("event log", "Transferred"),
    "split": pgettext_lazy("event log", "Split"),
    "rehosted": pgettext_lazy("event log", "Rehosted"),
}
UNKNOWN_TITLE = pgettext_lazy("event log", "Updated")

# The kinds whose reason Customer Care (or the ERP) gives for the customer: it is told to
# the contacts by email too. Other kinds' data never shows its reason, if it has one.
REASON_KINDS = frozenset(
    {"suspended", "reinstated", "revoked", "activation_revoked", "transferred", "split", "rehosted"}
)

# A transfer's data names the Account IDs that own the entitlement since (never the previous
# ones: transfers.py).
TRANSFER_TO_KEY = "account_ids"


@dataclass(frozen=True)
class LogEntry:
    """One line of the log: the business day it took effect, what happened and the details
    (each a sentence for the customer), and the reason given, if any."""

    effective_on: datetime.date
    title: str
    details: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class EventLog:
    entries: list[LogEntry]  # newest first
    more: bool  # older entries exist beyond the LOG_LIMIT shown


@dataclass(frozen=True)
class _Known:
    """What the viewer may know of the accounts and entitlements the log names."""

    account_ids: frozenset[str] = frozenset()
    ssrns: frozenset[str] = frozenset()


def entitlement_event_log(*, entitlement: Entitlement, user, limit: int = LOG_LIMIT) -> EventLog:
    """The entitlement's latest changes, newest first, in the active language, for `user`
    (who sees the entitlement). The changes before its latest transfer show no reason. One
    query; one more when a change names other accounts or entitlements (a transfer, a
    split)."""
    changes = list(
        EntitlementChange.objects.filter(entitlement=entitlement)
        .only("kind", "status", "effective_on", "data")
        .order_by("-id")[: limit + 1]
    )
    more = len(changes) > limit
    changes = changes[:limit]
    known = _known_to(user, changes)
    entries, before_transfer = [], False
    for change in changes:  # newest first
        entry = change_entry(change, known=known)
        if before_transfer and entry.reason:
            # The reasons given to the previous owners (a suspension for their unpaid
            # invoice, their words for a device's RMA) were theirs, not the new owners'.
            entry = replace(entry, reason="")
        entries.append(entry)
        before_transfer = before_transfer or change.kind == "transferred"
    return EventLog(entries=entries, more=more)


def _named(changes) -> tuple[set[str], set[str]]:
    """The Account IDs and SSRNs the changes name beyond their own entitlement."""
    account_ids, ssrns = set(), set()
    for change in changes:
        data = _data(change)
        if change.kind == "transferred":
            account_ids.update(_strings(data, TRANSFER_TO_KEY))
        elif change.kind == "split":
            ssrns.update(_strings(data, "new_ssrn"))
        elif change.kind == "created":
            ssrns.update(_strings(data, "split_from"))
    return account_ids, ssrns


def _known_to(user, changes) -> _Known:
    account_ids, ssrns = _named(changes)
    if not account_ids and not ssrns:
        return _Known()
    # One query for both: the named accounts the user is associated with, and the named
    # entitlements the user sees.
    accounts = (
        AccountAssociation.objects.filter(
            contact__user_id=user.pk, account__account_id__in=account_ids
        )
        .annotate(what=Value("account", output_field=CharField()))
        .order_by()
        .values_list("what", "account__account_id")
    )
    entitlements = (
        entitlements_visible_to(user=user)
        .filter(ssrn__in=ssrns)
        .annotate(what=Value("ssrn", output_field=CharField()))
        .order_by()
        .values_list("what", "ssrn")
    )
    rows = list(accounts.union(entitlements))
    return _Known(
        account_ids=frozenset(value for what, value in rows if what == "account"),
        ssrns=frozenset(value for what, value in rows if what == "ssrn"),
    )


def change_entry(change: EntitlementChange, *, known: _Known = _Known()) -> LogEntry:
    """One change in the customer's words."""
    data = _data(change)
    describe = _DETAILS.get(change.kind)
    title = KIND_TITLES.get(change.kind, UNKNOWN_TITLE)
    if describe is None:
        return LogEntry(effective_on=change.effective_on, title=str(title))
    title, details = describe(change, data, known, title)
    reason = _string(data.get("reason")) if change.kind in REASON_KINDS else ""
    return LogEntry(
        effective_on=change.effective_on, title=str(title), details=details, reason=reason
    )


def _data(change) -> dict:
    return change.data if isinstance(change.data, dict) else {}


def _string(value) -> str:
    """A scalar value as text; anything else (a list, a dict: not what the kind records)
    as nothing."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _strings(data: dict, *keys) -> list[str]:
    """The texts under these keys, each a string or a list of strings."""
    values = []
    for key in keys:
        value = data.get(key)
        for item in value if isinstance(value, list) else [value]:
            text = _string(item)
            if text and text not in values:
                values.append(text)
    return values


def _date(value) -> str:
    try:
        return date_format(datetime.date.fromisoformat(value), "DATE_FORMAT")
    except (TypeError, ValueError):
        return ""


def _created(change, data, known, title):
    split_from = _string(data.get("split_from"))
    if split_from:
        if split_from in known.ssrns:
            return pgettext_lazy("event log", "Split off"), [
                _("Split off from %(ssrn)s.") % {"ssrn": split_from}
            ]
        return pgettext_lazy("event log", "Split off"), [_("Split off from another entitlement.")]
    order, line = _string(data.get("order_number")), _string(data.get("line_number"))
    if order and line:
        return title, [_("Sales order %(order)s, line %(line)s.") % {"order": order, "line": line}]
    return title, []


def _activated(change, data, known, title):
    serials = _strings(data, "serial_numbers")
    if not serials:
        return title, []
    shown = ", ".join(serials[:SERIALS_SHOWN])
    if len(serials) > SERIALS_SHOWN:
        detail = _("Serial numbers: %(serials)s and %(count)d more.") % {
            "serials": shown,
            "count": len(serials) - SERIALS_SHOWN,
        }
    else:
        detail = _("Serial numbers: %(serials)s.") % {"serials": shown}
    return title, [detail]


def _serial(change, data, known, title):
    serial = _string(data.get("serial_number"))
    return title, [_("Serial number: %(serial)s.") % {"serial": serial}] if serial else []


def _renewed(change, data, known, title):
    ends = _date(data.get("term_ends_on"))
    return title, [_("The term now ends on %(date)s.") % {"date": ends}] if ends else []


STATUS_TITLES = {
    EntitlementStatus.ACTIVE: pgettext_lazy("event log", "Active again"),
    EntitlementStatus.GRACE: pgettext_lazy("event log", "Grace period began"),
    EntitlementStatus.EXPIRED: pgettext_lazy("event log", "Expired"),
}


def _status_changed(change, data, known, title):
    status_title = STATUS_TITLES.get(change.status)
    if status_title is None:
        return title, []
    if change.status == EntitlementStatus.GRACE:
        return status_title, [_("The term has ended: renew before the grace period ends.")]
    return status_title, []


def _certificate_reissued(change, data, known, title):
    version = _string(data.get("certificate_version"))
    return title, [_("Certificate version %(version)s.") % {"version": version}] if version else []


def _paper_delivery(change, data, known, title):
    details = []
    number = _string(data.get("certificate_number"))
    tracking = _string(data.get("tracking_number"))
    if number:
        details.append(_("Paper certificate %(number)s.") % {"number": number})
    if tracking:
        details.append(_("Shipment tracking number %(number)s.") % {"number": tracking})
    return title, details


def _lifecycle(change, data, known, title):
    return title, []


def _transferred(change, data, known, title):
    targets = [a for a in _strings(data, TRANSFER_TO_KEY) if a in known.account_ids]
    if targets:
        return title, [_("To your account %(target)s.") % {"target": ", ".join(targets)}]
    return title, [_("To another account.")]


def _split(change, data, known, title):
    quantity = _string(data.get("seats_moved"))
    new_ssrn = _string(data.get("new_ssrn"))
    if not quantity:
        return title, []
    if new_ssrn in known.ssrns:
        detail = _("Quantity %(quantity)s moved to the new entitlement %(ssrn)s.") % {
            "quantity": quantity,
            "ssrn": new_ssrn,
        }
    else:
        detail = _("Quantity %(quantity)s moved to a new entitlement.") % {"quantity": quantity}
    return title, [detail]


def _rehosted(change, data, known, title):
    old, new = _string(data.get("serial_number")), _string(data.get("new_serial_number"))
    if not (old and new):
        return title, []
    return title, [
        _("Moved from the device %(old)s to the device %(new)s.") % {"old": old, "new": new}
    ]


_DETAILS: dict[str, Callable] = {
    "created": _created,
    "activated": _activated,
    "activation_revoked": _serial,
    "renewed": _renewed,
    "status_changed": _status_changed,
    "certificate_reissued": _certificate_reissued,
    "paper_delivery_recorded": _paper_delivery,
    "suspended": _lifecycle,
    "reinstated": _lifecycle,
    "revoked": _lifecycle,
    "transferred": _transferred,
    "split": _split,
    "rehosted": _rehosted,
}
