"""Webhook events about entitlements, told from the change feed.

Every service that changes an entitlement records the change in the feed
(changes.entitlement_changes_record); the same call tells the change to the webhook
endpoints subscribed to its event type, in the same transaction. So the feed and the
webhooks never disagree, and the lifecycle actions (transfer, split, suspend, reinstate,
revoke) emit their events once they record changes of those kinds. Events of one entitlement
share the topic "entitlement:<SSRN>", so each endpoint receives them in order.
"""

import datetime
from collections import defaultdict
from collections.abc import Callable

from apps.entitlements.models import ChangeKind, Entitlement, EntitlementAccount
from apps.outbox.events import Event, events_record, webhook_subscribers
from apps.outbox.models import topic

# The change kinds that are webhook events, by the event type they are told as.
CHANGE_EVENTS = {
    ChangeKind.CREATED.value: "entitlement.created",
    ChangeKind.RENEWED.value: "entitlement.renewed",
    "transferred": "entitlement.transferred",
    "split": "entitlement.split",
    ChangeKind.SUSPENDED.value: "entitlement.suspended",
    ChangeKind.REINSTATED.value: "entitlement.reinstated",
    ChangeKind.REVOKED.value: "entitlement.revoked",
    ChangeKind.ACTIVATED.value: "activation.created",
    ChangeKind.ACTIVATION_REVOKED.value: "activation.revoked",
    "rehosted": "activation.rehosted",
}


def entitlement_topic(ssrn: str) -> str:
    return topic("entitlement", ssrn)


def entitlement_account_ids(entitlement_ids) -> dict[int, list[str]]:
    """The Account IDs of each entitlement, in one query."""
    accounts = defaultdict(list)
    rows = (
        EntitlementAccount.objects.filter(entitlement_id__in=entitlement_ids)
        .order_by("account__account_id")
        .values_list("entitlement_id", "account__account_id")
    )
    for entitlement_id, account_id in rows:
        if account_id not in accounts[entitlement_id]:
            accounts[entitlement_id].append(account_id)
    return accounts


def entitlement_event_data(
    entitlement: Entitlement, *, sku: str, account_ids: list[str], today: datetime.date
) -> dict:
    """What every entitlement event says about its entitlement: never its activation code."""
    return {
        "ssrn": entitlement.ssrn,
        "sku": sku,
        "quantity": entitlement.quantity,
        "status": entitlement.status_on(today),
        "starts_on": _date(entitlement.starts_on),
        "term_ends_on": _date(entitlement.term_ends_on),
        "grace_ends_on": _date(entitlement.grace_ends_on),
        "account_ids": account_ids,
    }


def _date(value) -> str | None:
    return value.isoformat() if value else None


def entitlement_events_record(
    *,
    entitlements: list[Entitlement],
    kind: str,
    data: Callable[[Entitlement], dict],
    today: datetime.date,
) -> None:
    """Tell a change of `kind` of these entitlements to the endpoints that listen (none: one
    query). Call inside the change's transaction; `data(entitlement)` is the change's data
    in the feed. An activation event is told per device."""
    type = CHANGE_EVENTS.get(str(kind))
    if type is None:
        return
    endpoints = webhook_subscribers([type])
    if not endpoints:
        return
    ids = [entitlement.pk for entitlement in entitlements]
    accounts = entitlement_account_ids(ids)
    skus = dict(Entitlement.objects.filter(pk__in=ids).values_list("pk", "product__sku"))
    events = []
    for entitlement in entitlements:
        about = entitlement_event_data(
            entitlement,
            sku=skus.get(entitlement.pk, ""),
            account_ids=accounts[entitlement.pk],
            today=today,
        )
        change = data(entitlement)
        if type == "activation.created":
            details = [
                {"serial_number": serial, "seats_used": change.get("seats_used")}
                for serial in change.get("serial_numbers", [])
            ]
        else:
            details = [change]
        events += [
            Event(
                type=type,
                data={**about, **detail},
                topic=entitlement_topic(entitlement.ssrn),
                account_ids=accounts[entitlement.pk],
                about=entitlement.ssrn,
            )
            for detail in details
        ]
    events_record(events, endpoints=endpoints)
