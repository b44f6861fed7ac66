"""Subscription reminders: before a term ends, when it enters grace, when it expires.

Each run looks at the current term of every live subscription, finds the window it has
reached today, and tells every address that should know, once per window and term, in one
digest per address per day. A renewed subscription's current term is the renewal, so the old
term is never mentioned again.
"""

import datetime
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef

from apps.accounts.models import Contact
from apps.core.dates import business_today
from apps.entitlements.events import (
    entitlement_account_ids,
    entitlement_event_data,
    entitlement_topic,
)
from apps.entitlements.models import Term
from apps.notifications.models import Reminder
from apps.orders.models import OrderEmail
from apps.outbox.events import Event, events_record, webhook_subscribers
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus, topic
from apps.outbox.services import delivery_build

logger = logging.getLogger(__name__)

GRACE, EXPIRED = "grace", "expired"
# An expiry older than this is history, not news: it is not announced (a first run on old data).
EXPIRY_NEWS_DAYS = 30


def reminder_window(
    *, term_end: datetime.date, grace_end: datetime.date | None, today: datetime.date
) -> str | None:
    """The window a term has reached today: "90", "60", ... (days before its end), "grace"
    or "expired"; None when nothing is due."""
    if today <= term_end:
        days_left = (term_end - today).days
        reached = [days for days in settings.REMINDER_WINDOWS if days_left <= days]
        return str(min(reached)) if reached else None
    if grace_end and today <= grace_end:
        return GRACE
    if (today - (grace_end or term_end)).days <= EXPIRY_NEWS_DAYS:
        return EXPIRED
    return None


@dataclass(frozen=True)
class Recipient:
    email: str
    language: str


def _current_terms(today: datetime.date):
    later = Term.objects.filter(
        entitlement=OuterRef("entitlement"), sequence__gt=OuterRef("sequence")
    )
    horizon = today + datetime.timedelta(days=max(settings.REMINDER_WINDOWS, default=0))
    return (
        Term.objects.filter(entitlement__revoked_at__isnull=True, ends_on__lte=horizon)
        .exclude(Exists(later))
        .select_related("entitlement__product", "order_line__order")
        .prefetch_related("entitlement__entitlement_accounts")
    )


def _recipients(terms: list[Term]) -> dict[int, list[Recipient]]:
    """Per term: the contacts associated with its entitlement's accounts (in their language)
    and the addresses of the order that bought it (in the order's language), once each."""
    account_ids = {
        role.account_id for t in terms for role in t.entitlement.entitlement_accounts.all()
    }
    contacts = defaultdict(list)
    for contact in (
        Contact.objects.filter(accounts__in=account_ids, user__is_active=True)
        .select_related("user")
        .prefetch_related("associations")
    ):
        for association in contact.associations.all():
            contacts[association.account_id].append(Recipient(contact.user.email, contact.language))
    order_emails = defaultdict(list)
    for row in OrderEmail.objects.filter(
        order__in={t.order_line.order_id for t in terms}
    ).select_related("order"):
        order_emails[row.order_id].append(Recipient(row.email, row.order.language))
    result = {}
    for term in terms:
        seen, recipients = set(), []
        accounts = {role.account_id for role in term.entitlement.entitlement_accounts.all()}
        candidates = [r for a in sorted(accounts) for r in contacts[a]] + order_emails[
            term.order_line.order_id
        ]
        for recipient in candidates:  # a contact's own language wins over the order's
            if recipient.email.lower() not in seen:
                seen.add(recipient.email.lower())
                recipients.append(recipient)
        result[term.pk] = recipients
    return result


@transaction.atomic
def reminders_queue(*, today: datetime.date | None = None) -> list[int]:
    """Write today's reminders as rows: one digest (an email delivery) per address, one
    Reminder per term, window and address. Returns the digests to send.

    Idempotent: a window already told to an address for a term is skipped, and a digest of
    today that has already gone out takes no more items (they go in tomorrow's). One run
    writes at a time: a run that starts while another is still writing (an hour's run that
    outlasts the hour, two beats by mistake) returns at once with nothing, as the running
    one covers the same day.
    """
    today = today or business_today()
    if not _run_lock_taken():
        logger.info("reminders: the previous run is still writing; this one leaves it to it")
        return []
    terms = list(_current_terms(today))
    due = {}
    for term in terms:
        window = reminder_window(term_end=term.ends_on, grace_end=term.grace_ends_on, today=today)
        if window:
            due[term.pk] = (term, window)
    if not due:
        return []
    told = {
        (term_id, window, email.lower())
        for term_id, window, email in Reminder.objects.filter(term__in=due).values_list(
            "term_id", "window", "email"
        )
    }
    recipients = _recipients([term for term, _ in due.values()])
    items = defaultdict(list)
    for term, window in due.values():
        for recipient in recipients[term.pk]:
            if (term.pk, window, recipient.email.lower()) not in told:
                items[recipient].append((term, window))
    digests = []
    told_now: dict[tuple[int, str], int] = defaultdict(int)
    for recipient, entries in items.items():
        digest = _digest_for(recipient, today)
        if digest is None:
            continue
        Reminder.objects.bulk_create(
            Reminder(term=term, window=window, email=recipient.email, delivery=digest)
            for term, window in entries
        )
        for term, window in entries:
            told_now[term.pk, window] += 1
        digests.append(digest.pk)
    _reminder_events({pk: term for pk, (term, _) in due.items()}, told_now, today)
    return digests


def _reminder_events(terms: dict[int, Term], told: dict[tuple[int, str], int], today) -> None:
    """Tell the webhook endpoints that listen which terms' contacts were reminded in this run
    (one event per term and window, with how many addresses): one query when none listens."""
    endpoints = webhook_subscribers(["reminder.sent"]) if told else []
    if not endpoints:
        return
    accounts = entitlement_account_ids({terms[pk].entitlement_id for pk, _ in told})
    events = []
    for (term_id, window), recipients in sorted(told.items()):
        term = terms[term_id]
        entitlement = term.entitlement
        account_ids = accounts[entitlement.pk]
        events.append(
            Event(
                type="reminder.sent",
                data={
                    **entitlement_event_data(
                        entitlement,
                        sku=entitlement.product.sku,
                        account_ids=account_ids,
                        today=today,
                    ),
                    "window": window,
                    "term": term.sequence,
                    "term_ends_on": term.ends_on.isoformat(),
                    "grace_ends_on": term.grace_ends_on.isoformat() if term.grace_ends_on else None,
                    "recipients": recipients,
                },
                topic=entitlement_topic(entitlement.ssrn),
                account_ids=account_ids,
                about=entitlement.ssrn,
            )
        )
    events_record(events, endpoints=endpoints)


# Names the reminders' run among PostgreSQL's advisory locks (any number unique to it).
RUN_LOCK = 0x6B5F72656D  # "k_rem"


def _run_lock_taken() -> bool:
    """Take the run's lock for this transaction, or say that another run holds it."""
    if connection.vendor != "postgresql":
        return True  # SQLite (development) lets one transaction write at a time anyway
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RUN_LOCK])
        return cursor.fetchone()[0]


def _digest_for(recipient: Recipient, today: datetime.date) -> Delivery | None:
    """Today's digest for this address, still queued and locked (a sender that claims it
    meanwhile skips it), or None when today's has already gone out."""
    todays = Delivery.objects.select_for_update().filter(
        kind=DeliveryKind.REMINDER_DIGEST,
        topic=topic("digest", today.isoformat()),
        recipient__iexact=recipient.email,
        resend_of__isnull=True,
    )
    digest = todays.first()
    if digest is None:
        try:
            with transaction.atomic():
                digest = delivery_build(
                    kind=DeliveryKind.REMINDER_DIGEST,
                    topic=topic("digest", today.isoformat()),
                    about=today.isoformat(),
                    recipient=recipient.email,
                    language=recipient.language,
                )
                digest.save()
                return digest
        except IntegrityError:  # another run made it a moment ago
            digest = todays.get()
    return digest if digest.status == DeliveryStatus.QUEUED else None
