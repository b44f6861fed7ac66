"""The admin's front page for Operations and Customer Care: what is due, what is stuck, and
whether the jobs run.

Every figure is one aggregate query on an index (partial indexes keep the queues' counts to
the rows still in them), so the page costs the same number of queries whatever the tables
hold (tests/backoffice/test_dashboard.py pins it; `make bench-dashboard` times it with a
million entitlements). Each section is shown only to staff who may view its rows, and each
number links to the admin list that shows those rows.
"""

import datetime
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.dates import business_today
from apps.core.heartbeats import HEARTBEAT_TASK
from apps.core.models import Heartbeat, JobRun, ProcessKind
from apps.entitlements.models import Certificate, CertificateStatus, Entitlement
from apps.entitlements.selectors import entering_grace
from apps.lms.selectors import legacy_key_pools
from apps.orders.models import LineStatus, OrderLine, Shipment
from apps.outbox.models import IN_FLIGHT, Channel, Delivery, DeliveryStatus

# A process not heard from for this long is reported: beat sends a heartbeat every 30 s, so
# three missed in a row.
HEARTBEAT_STALE_AFTER = datetime.timedelta(minutes=2)
# Jobs whose last run the page shows, as JobRun names them.
JOBS = {
    "fulfil_due_task": _("Sweep (ship due lines)"),
    "queued_work_rescue_task": _("Rescue (hand back stuck work)"),
}
# What each job's summary says, as the page words it.
SUMMARY_LABELS = {
    "lines_shipped": _("lines shipped"),
    "lines_blocked": _("lines blocked"),
    "shipments": _("shipments"),
    "certificate_shipments": _("shipments handed back to render"),
    "emails": _("emails handed back"),
    "webhooks": _("webhook events handed back"),
    "uploads_purged": _("expired key uploads removed"),
    "error": _("stopped by an error"),
}
# Reasons of blocked lines listed, most frequent first; subscriptions entering grace listed.
REASONS_SHOWN = 20
GRACE_SHOWN = 10
# Failed rows queued again per click: each is locked and audited in one transaction.
RETRY_BATCH = 500


def _link(name: str, **params) -> str:
    url = reverse(name)
    return f"{url}?{urlencode(params)}" if params else url


@dataclass
class Queue:
    key: str
    label: str
    depth: int
    oldest: datetime.datetime | None
    retry: int
    failed: int
    links: dict
    may_retry: bool


@dataclass
class Dashboard:
    lines: dict | None = None
    blocked_reasons: list = field(default_factory=list)
    shipments: dict | None = None
    queues: list[Queue] = field(default_factory=list)
    runs: list = field(default_factory=list)
    processes: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pools: list | None = None
    grace: dict | None = None


def worker_queues() -> list[str]:
    """The queues beat sends heartbeats to: every queue a worker must consume."""
    return [
        entry.get("options", {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == HEARTBEAT_TASK
    ]


def _lines(today: datetime.date) -> tuple[dict, list]:
    changelist = "admin:orders_orderline_changelist"
    # One pass over the lines still in play (open, held, blocked) and today's shipped ones,
    # both on order_line_status_date_idx: the million shipped lines of the past are not read.
    figures = OrderLine.objects.filter(
        Q(status__in=[LineStatus.OPEN, LineStatus.ON_HOLD, LineStatus.BLOCKED])
        | Q(status=LineStatus.FULFILLED, requested_ship_date=today)
    ).aggregate(
        today=Count("pk", filter=Q(requested_ship_date=today)),
        shipped_today=Count("pk", filter=Q(requested_ship_date=today, status=LineStatus.FULFILLED)),
        overdue=Count("pk", filter=Q(status=LineStatus.OPEN, requested_ship_date__lte=today)),
        on_hold=Count("pk", filter=Q(status=LineStatus.ON_HOLD)),
        blocked=Count("pk", filter=Q(status=LineStatus.BLOCKED)),
    )
    lines = {
        **figures,
        "links": {
            "today": _link(changelist, due="scheduled"),
            "overdue": _link(changelist, due="due"),
            "on_hold": _link(changelist, status__exact=LineStatus.ON_HOLD),
            "blocked": _link(changelist, status__exact=LineStatus.BLOCKED),
        },
    }
    reasons = [
        {
            "reason": row["status_reason"],
            "count": row["count"],
            "link": _link(
                changelist, status__exact=LineStatus.BLOCKED, reason=row["status_reason"]
            ),
        }
        for row in OrderLine.objects.filter(status=LineStatus.BLOCKED)
        .values("status_reason")
        .annotate(count=Count("pk"))
        .order_by("-count", "status_reason")[:REASONS_SHOWN]
    ]
    return lines, reasons


def _shipments(now: datetime.datetime) -> dict:
    since = (now - datetime.timedelta(hours=24)).replace(second=0, microsecond=0)
    return {
        "count": Shipment.objects.filter(created_at__gte=since).count(),
        "link": _link("admin:orders_shipment_changelist", created_at__gte=since.isoformat()),
    }


def _certificate_queue(user) -> Queue:
    pending = Q(status__in=[CertificateStatus.QUEUED, CertificateStatus.RENDERING])
    figures = Certificate.objects.filter(
        status__in=[CertificateStatus.QUEUED, CertificateStatus.RENDERING, CertificateStatus.FAILED]
    ).aggregate(
        depth=Count("pk", filter=pending),
        oldest=Min("created_at", filter=pending),
        retry=Count("pk", filter=Q(status=CertificateStatus.QUEUED, attempts__gt=0)),
        failed=Count("pk", filter=Q(status=CertificateStatus.FAILED)),
    )
    changelist = "admin:entitlements_certificate_changelist"
    return Queue(
        key="certificates",
        label=_("Certificates"),
        **figures,
        links={
            "depth": _link(changelist, queue="pending"),
            "retry": _link(changelist, queue="retry"),
            "failed": _link(changelist, status__exact=CertificateStatus.FAILED),
        },
        may_retry=user.has_perm("entitlements.change_certificate"),
    )


def _delivery_queues(user) -> list[Queue]:
    in_flight = Q(status__in=IN_FLIGHT)
    rows = {
        row["channel"]: row
        for row in Delivery.objects.filter(status__in=[*IN_FLIGHT, DeliveryStatus.FAILED])
        .values("channel")
        .annotate(
            depth=Count("pk", filter=in_flight),
            oldest=Min("created_at", filter=in_flight),
            retry=Count("pk", filter=Q(status=DeliveryStatus.RETRY)),
            failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        )
        .order_by()
    }
    changelist = "admin:outbox_delivery_changelist"
    queues = []
    for key, channel, label in [
        ("emails", Channel.EMAIL, _("Emails")),
        ("webhooks", Channel.WEBHOOK, _("Webhooks")),
    ]:
        row = rows.get(channel, {})
        queues.append(
            Queue(
                key=key,
                label=label,
                depth=row.get("depth", 0),
                oldest=row.get("oldest"),
                retry=row.get("retry", 0),
                failed=row.get("failed", 0),
                links={
                    "depth": _link(changelist, channel__exact=channel, queue="pending"),
                    "retry": _link(
                        changelist, channel__exact=channel, status__exact=DeliveryStatus.RETRY
                    ),
                    "failed": _link(
                        changelist, channel__exact=channel, status__exact=DeliveryStatus.FAILED
                    ),
                },
                may_retry=user.has_perm("outbox.change_delivery"),
            )
        )
    return queues


def _said(summary: dict) -> list[tuple]:
    """A run's summary in the page's words, in a fixed order (JSON keeps none)."""
    known = [(label, summary[key]) for key, label in SUMMARY_LABELS.items() if key in summary]
    return known + [(key, value) for key, value in summary.items() if key not in SUMMARY_LABELS]


def _runs() -> list[dict]:
    last = JobRun.objects.filter(
        pk__in=JobRun.objects.filter(name__in=list(JOBS))
        .values("name")
        .annotate(last=Max("pk"))
        .values("last")
    )
    by_name = {run.name: run for run in last}
    return [
        {
            "label": label,
            "run": by_name.get(name),
            "did": _said(by_name[name].summary) if name in by_name else [],
        }
        for name, label in JOBS.items()
    ]


def _processes(now: datetime.datetime) -> tuple[list, list[str]]:
    """Every process heard from in the last day, and what to warn about: no beat, or a queue
    no worker consumes, or a worker that stopped, for two minutes (or ever)."""
    stale_before = now - HEARTBEAT_STALE_AFTER
    beats = list(Heartbeat.objects.order_by("kind", "queue", "host"))
    warnings = []
    beat = [row for row in beats if row.kind == ProcessKind.BEAT]
    if not any(row.last_seen >= stale_before for row in beat):
        warnings.append(
            _("Celery beat has not been seen for two minutes: due lines are not shipped.")
            if beat
            else _("Celery beat has never been seen: due lines are not shipped.")
        )
    workers = [row for row in beats if row.kind == ProcessKind.WORKER]
    for queue in worker_queues():
        on_queue = [row for row in workers if row.queue == queue]
        if not any(row.last_seen >= stale_before for row in on_queue):
            message = (
                _("No worker has taken work from the queue “%(queue)s” for two minutes.")
                if on_queue
                else _("No worker has ever taken work from the queue “%(queue)s”.")
            )
            warnings.append(message % {"queue": queue})
    for row in workers:
        if row.last_seen < stale_before and any(
            other.queue == row.queue and other.last_seen >= stale_before for other in workers
        ):
            warnings.append(
                _("The worker %(host)s has not been seen on “%(queue)s” since %(when)s.")
                % {
                    "host": row.host,
                    "queue": row.queue,
                    "when": timezone.localtime(row.last_seen).strftime("%Y-%m-%d %H:%M"),
                }
            )
    processes = [{"row": row, "stale": row.last_seen < stale_before} for row in beats]
    return processes, warnings


def _grace(today: datetime.date) -> dict:
    entering = Entitlement.objects.filter(entering_grace(today=today))
    return {
        "count": entering.count(),
        "rows": list(
            entering.select_related("product").order_by("term_ends_on", "pk")[:GRACE_SHOWN]
        ),
        "link": _link("admin:entitlements_entitlement_changelist", grace_soon="week"),
    }


def dashboard_figures(*, user, now: datetime.datetime | None = None) -> Dashboard:
    """The figures `user` may see, as of `now`."""
    now = now or timezone.now()
    today = business_today(now)
    board = Dashboard()
    if user.has_perm("orders.view_orderline"):
        board.lines, board.blocked_reasons = _lines(today)
    if user.has_perm("orders.view_shipment"):
        board.shipments = _shipments(now)
    if user.has_perm("entitlements.view_certificate"):
        board.queues.append(_certificate_queue(user))
    if user.has_perm("outbox.view_delivery"):
        board.queues += _delivery_queues(user)
    board.runs = _runs()
    board.processes, board.warnings = _processes(now)
    if user.has_perm("lms.view_legacykey"):
        board.pools = [pool for pool in legacy_key_pools() if pool.warning]
    if user.has_perm("entitlements.view_entitlement"):
        board.grace = _grace(today)
    return board


def failed_ids(*, queue: str) -> list[int]:
    """The failed rows of a queue, oldest first, a batch at a time."""
    if queue == "certificates":
        rows = Certificate.objects.filter(status=CertificateStatus.FAILED)
    else:
        channel = Channel.EMAIL if queue == "emails" else Channel.WEBHOOK
        rows = Delivery.objects.filter(status=DeliveryStatus.FAILED, channel=channel)
    return list(rows.order_by("pk").values_list("pk", flat=True)[:RETRY_BATCH])


# The permission that retrying each queue's failed rows takes.
RETRY_PERMISSIONS = {
    "certificates": "entitlements.change_certificate",
    "emails": "outbox.change_delivery",
    "webhooks": "outbox.change_delivery",
}
