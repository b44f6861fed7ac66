"""`GET /metrics`: Prometheus' text format, for `Authorization: Bearer <METRICS_TOKEN>` only.

Two sources, added up at each scrape:
- the counters and histograms every process of this host wrote to PROMETHEUS_MULTIPROC_DIR
  (apps/core/metrics.py defines them, the services record them);
- gauges read from the database now (queue depths and ages, overdue lines, failed
  deliveries): the rows are the truth whichever process or host did the work, so these are
  the same on every host and alert rules take their `max`. Each is one query on a partial
  index that holds only the rows it counts, so a scrape costs the same with a million sent
  emails as with none.
"""

import hmac
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from apps.core.dates import business_today
from apps.core.models import Heartbeat
from apps.entitlements.models import Certificate, CertificateStatus
from apps.orders.models import LineStatus, OrderLine
from apps.outbox.models import IN_FLIGHT, Channel, Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

# The queues as the `queue` label names them.
QUEUE_CERTIFICATES = "certificates"
QUEUE_OF_CHANNEL = {Channel.EMAIL: "emails", Channel.WEBHOOK: "webhooks"}
CERTIFICATES_WAITING = [CertificateStatus.QUEUED, CertificateStatus.RENDERING]


def queues_waiting() -> dict[str, tuple[int, object]]:
    """Per queue: how many pieces of work wait or are in hand, and when the oldest was made
    (None when there is none)."""
    queues = {QUEUE_CERTIFICATES: (0, None), **{q: (0, None) for q in QUEUE_OF_CHANNEL.values()}}
    certificates = Certificate.objects.filter(status__in=CERTIFICATES_WAITING).aggregate(
        count=Count("*"), oldest=Min("created_at")
    )
    queues[QUEUE_CERTIFICATES] = (certificates["count"], certificates["oldest"])
    rows = (
        Delivery.objects.filter(status__in=IN_FLIGHT)
        .order_by()
        .values("channel")
        .annotate(count=Count("*"), oldest=Min("created_at"))
    )
    for row in rows:
        if row["channel"] in QUEUE_OF_CHANNEL:
            queues[QUEUE_OF_CHANNEL[row["channel"]]] = (row["count"], row["oldest"])
    return queues


def lines_overdue() -> int:
    """Open lines whose requested ship date has begun in the business time zone: the sweep
    ships them within a minute, so a count that stays above 0 means it does not run."""
    return OrderLine.objects.filter(
        status=LineStatus.OPEN, requested_ship_date__lte=business_today()
    ).count()


def lines_blocked() -> int:
    return OrderLine.objects.filter(status=LineStatus.BLOCKED).count()


def deliveries_failed() -> dict[str, int]:
    """Deliveries failed for good (until someone retries or resends them), per channel."""
    counts = dict.fromkeys(Channel.values, 0)
    rows = (
        Delivery.objects.filter(status=DeliveryStatus.FAILED)
        .order_by()
        .values_list("channel")
        .annotate(count=Count("*"))
    )
    counts.update(dict(rows))
    return counts


class DatabaseCollector:
    """The gauges read from the database at each scrape (prometheus_client's custom
    collector). Without a `describe`, registering it runs no query."""

    def collect(self):
        up = GaugeMetricFamily(
            "keyship_database_up", "1 when the database answered this scrape's queries, else 0."
        )
        try:
            with transaction.atomic():
                families = list(self._families())
        except Exception as error:  # noqa: BLE001 - a scrape still reports the counters
            logger.warning("metrics: the database did not answer: %s", error.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self):
        now = timezone.now()
        depth = GaugeMetricFamily(
            "keyship_queue_depth",
            "Work waiting or in hand: certificates to render, emails and webhook events to send "
            "(queued, being sent, or waiting to retry).",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "keyship_queue_oldest_seconds",
            "Age of the oldest piece of work in the queue (0 when it is empty).",
            labels=["queue"],
        )
        for queue, (count, created_at) in queues_waiting().items():
            depth.add_metric([queue], count)
            age = (now - created_at).total_seconds() if created_at else 0
            oldest.add_metric([queue], max(age, 0))
        yield depth
        yield oldest
        yield GaugeMetricFamily(
            "keyship_lines_overdue",
            "Open order lines whose requested ship date has begun (due and not shipped).",
            value=lines_overdue(),
        )
        yield GaugeMetricFamily(
            "keyship_lines_blocked",
            "Order lines blocked (a retired product, no end customer, too few legacy keys).",
            value=lines_blocked(),
        )
        failed = GaugeMetricFamily(
            "keyship_deliveries_failed",
            "Deliveries failed for good and not retried or resent, per channel.",
            labels=["channel"],
        )
        for channel, count in deliveries_failed().items():
            failed.add_metric([channel], count)
        yield failed
        heard = GaugeMetricFamily(
            "keyship_heartbeat_age_seconds",
            "Seconds since beat (it sends the heartbeats) or any worker (it runs one) was last "
            "heard from; absent until the first heartbeat.",
            labels=["process"],
        )
        for kind, latest in heartbeats_latest().items():
            heard.add_metric([kind], max((now - latest).total_seconds(), 0))
        yield heard


def heartbeats_latest() -> dict[str, object]:
    """Per kind of process (beat, worker), the latest sign of life of any of them."""
    return dict(
        Heartbeat.objects.values("kind").annotate(latest=Max("last_seen")).values_list(
            "kind", "latest"
        )
    )


def _authorized(request) -> bool:
    expected = f"Bearer {settings.METRICS_TOKEN}".encode()
    given = request.headers.get("Authorization", "").encode()
    return hmac.compare_digest(given, expected)


@never_cache
@require_GET
@transaction.non_atomic_requests  # the collector reads in its own transaction, or reports 0
def metrics_view(request):
    """Every process's counters of this host and the database's gauges, in Prometheus' text
    format. Without METRICS_TOKEN there is nothing here (404); a missing or wrong token is
    refused (401) with nothing said about why."""
    if not settings.METRICS_TOKEN:
        raise Http404
    if not _authorized(request):
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
