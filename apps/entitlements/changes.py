"""The entitlement change feed: what the ERP reads to keep its copy of every entitlement
current, without missing a change and without reading one twice.

Every service that changes what an entitlement is or does records an EntitlementChange row
in its own transaction (created, activated, activation revoked, renewed, certificate reissued,
paper delivery recorded). Statuses that move by the calendar (active -> grace -> expired, at
midnight in the business time zone) change without any write: the periodic job
`entitlement_status_changes_record` compares each entitlement's `feed_status` with its dates
and records each move once, a few minutes after the day boundary.

Why the feed cannot skip a row that commits late. Row ids (and timestamps) are taken when a
row is written, not when its transaction commits: a reader could read id 11 while id 10 is
still uncommitted, move its cursor past 10 and never see it. So the cursor is not the id but a
`position` given to rows after they commit: before each read, `entitlement_changes_place`
numbers every committed row that has no position yet, after the highest position given, in one
transaction that holds a lock no other placing holds at the same time. A row that commits
later is placed by a later placing, after every row already read; a reader sees only placings
that have committed. Positions therefore grow in the order readers can see rows, and a reader
that keeps the last position it read misses nothing and reads nothing twice. Nothing waits on
the writers: a change is placed by the first read after it commits.
"""

import datetime
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from apps.core.dates import business_today
from apps.core.models import AuditEvent
from apps.core.services import audit_event_build
from apps.entitlements.events import entitlement_events_record
from apps.entitlements.models import (
    ChangeKind,
    Entitlement,
    EntitlementChange,
    EntitlementStatus,
)

# Entitlements moved per transaction by the calendar job: a few hundred rows keep each
# transaction short (the row locks block renewals and activations of the same entitlements).
STATUS_BATCH = 500
ONE_DAY = datetime.timedelta(days=1)


def entitlement_changes_record(
    *,
    entitlements: list[Entitlement],
    kind: str,
    data: dict | Callable[[Entitlement], dict] | None = None,
    today: datetime.date | None = None,
) -> list[EntitlementChange]:
    """Add a change of `kind` to the feed for each entitlement, with its status now. Call
    inside the transaction of the change (services do): the row commits, or not, with it.
    `data` (or `data(entitlement)`) says what changed; never an activation code or a key.
    The change is also a webhook event for the kinds of events.CHANGE_EVENTS."""
    if not entitlements:
        return []
    today = today or business_today()

    def data_of(entitlement):
        return (data(entitlement) if callable(data) else data) or {}

    changes = EntitlementChange.objects.bulk_create(
        EntitlementChange(
            entitlement=entitlement,
            kind=kind,
            status=entitlement.status_on(today),
            effective_on=today,
            data=data_of(entitlement),
        )
        for entitlement in entitlements
    )
    # The same change, told to the webhook endpoints that listen for it.
    entitlement_events_record(entitlements=entitlements, kind=kind, data=data_of, today=today)
    return changes


def _calendar_moves(
    entitlement: Entitlement, today: datetime.date
) -> list[tuple[str, datetime.date]]:
    """The status moves by the calendar since `feed_status` that the feed has not told yet:
    (status, the day it began). An entitlement past its grace gets both moves, in order."""
    moves = []
    status = entitlement.status_on(today)
    if status == entitlement.feed_status or status not in (
        EntitlementStatus.GRACE,
        EntitlementStatus.EXPIRED,
    ):
        return moves
    term_end, grace_end = entitlement.term_ends_on, entitlement.grace_ends_on
    if entitlement.feed_status == EntitlementStatus.ACTIVE and grace_end:
        moves.append((EntitlementStatus.GRACE, term_end + ONE_DAY))
    if status == EntitlementStatus.EXPIRED:
        moves.append((EntitlementStatus.EXPIRED, (grace_end or term_end) + ONE_DAY))
    return moves


def entitlement_calendar_changes(
    *, entitlements: list[Entitlement], today: datetime.date
) -> list[EntitlementChange]:
    """Record the calendar's status moves of these entitlements (locked by the caller) that
    the feed has not told, and bring their `feed_status` up to date. Call inside a
    transaction; a second call records nothing."""
    changes, moved = [], []
    for entitlement in entitlements:
        moves = _calendar_moves(entitlement, today)
        if not moves:
            continue
        for status, day in moves:
            changes.append(
                EntitlementChange(
                    entitlement=entitlement,
                    kind=ChangeKind.STATUS_CHANGED,
                    status=status,
                    effective_on=day,
                    data={"from": entitlement.feed_status},
                )
            )
            entitlement.feed_status = status
        moved.append(entitlement)
    EntitlementChange.objects.bulk_create(changes)
    now = timezone.now()
    for status in {e.feed_status for e in moved}:
        Entitlement.objects.filter(pk__in=[e.pk for e in moved if e.feed_status == status]).update(
            feed_status=status, updated_at=now
        )
    return changes


def _calendar_due(today: datetime.date) -> QuerySet[Entitlement]:
    # Each branch reads its own partial index; an entitlement in grace that is still in
    # grace is not read at all.
    return Entitlement.objects.filter(
        Q(feed_status=EntitlementStatus.ACTIVE, term_ends_on__lt=today)
        | Q(feed_status=EntitlementStatus.GRACE, grace_ends_on__lt=today)
        | Q(feed_status=EntitlementStatus.GRACE, grace_ends_on__isnull=True),
        revoked_at__isnull=True,
    )


def entitlement_status_changes_record(*, actor, today: datetime.date | None = None) -> int:
    """The periodic job: record every status move the calendar made (active -> grace ->
    expired) in the change feed; returns how many entitlements moved.

    One transaction per batch, claimed with FOR UPDATE SKIP LOCKED so that runs at the same
    moment share the work, and a renewal or activation holding an entitlement is not waited
    for (the next run takes it, if it still has a move to record). Idempotent: a moved
    entitlement's `feed_status` matches its dates, so it is not found again. One audit event
    per entitlement moved, under `actor` (the job).
    """
    today = today or business_today()
    total = 0
    while True:
        with transaction.atomic():
            batch = list(
                _calendar_due(today)
                .select_for_update(skip_locked=True)
                .order_by("pk")[:STATUS_BATCH]
            )
            changes = entitlement_calendar_changes(entitlements=batch, today=today)
            _audit_moves(changes, actor)
        moved = len({change.entitlement_id for change in changes})
        total += moved
        if len(batch) < STATUS_BATCH or not moved:
            return total


def _audit_moves(changes: list[EntitlementChange], actor) -> None:
    # One insert for the batch, as the sweep does: a round trip per entitlement would
    # lengthen the transaction that holds their locks.
    AuditEvent.objects.bulk_create(
        audit_event_build(
            actor=actor,
            action="entitlement.status_changed",
            target=change.entitlement,
            message=f"{change.entitlement.ssrn}: {change.data['from']} -> {change.status} "
            f"on {change.effective_on:%Y-%m-%d}",
            data={
                "from": change.data["from"],
                "to": change.status,
                "effective_on": change.effective_on.isoformat(),
            },
        )
        for change in changes
    )


# Any number: one lock of the application's own, taken by the placing transaction only.
_PLACING_LOCK = 0x6B73_6665_6564  # "ksfeed"
# Rows placed per statement: a backlog (the first read after days) is placed in steps.
PLACE_BATCH = 5000

_PLACE_SQL = """
UPDATE {table} SET "position" = placed.next
FROM (
    SELECT "id", (SELECT COALESCE(MAX("position"), 0) FROM {table})
                 + ROW_NUMBER() OVER (ORDER BY "id") AS next
    FROM {table} WHERE "position" IS NULL ORDER BY "id" LIMIT %s
) AS placed
WHERE {table}."id" = placed."id"
"""


def entitlement_changes_place() -> int:
    """Give each committed change without a position the next positions, in id order; returns
    how many. Its own transaction, under a lock that one placing holds at a time, so that
    positions follow what readers can see (see the module's docstring). Safe to run at any
    moment, by any number of readers."""
    table = EntitlementChange._meta.db_table
    placed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PLACING_LOCK])
            # SQLite has one writer at a time: its write lock is the placing lock.
            cursor.execute(_PLACE_SQL.format(table=connection.ops.quote_name(table)), [PLACE_BATCH])
            count = cursor.rowcount
        placed += count
        if count < PLACE_BATCH:
            return placed


def entitlement_changes_after(*, position: int, limit: int) -> list[EntitlementChange]:
    """Up to `limit` changes after `position`, in the order of the feed, once every change
    committed so far has its position; with each change's entitlement."""
    entitlement_changes_place()
    return list(
        EntitlementChange.objects.filter(position__gt=position)
        .select_related("entitlement")
        .order_by("position")[:limit]
    )


def entitlement_changes_end() -> int:
    """The position of the last change placed so far (0 for an empty feed): no cursor this
    feed has given is past it, since positions are only ever added."""
    return EntitlementChange.objects.aggregate(end=Max("position"))["end"] or 0
