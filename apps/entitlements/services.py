import datetime
import hashlib
import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import DeliveryMethod
from apps.core import codes, metrics, sealing
from apps.core.backoff import MAX_ATTEMPTS, retry_delay
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.core.db import atomic_reconnecting
from apps.core.logs import log_context
from apps.core.services import audit_event_record, field_changes, field_values
from apps.entitlements.activations import activation_keys_reissue
from apps.entitlements.changes import entitlement_calendar_changes, entitlement_changes_record
from apps.entitlements.models import (
    Certificate,
    CertificateStatus,
    ChangeKind,
    Entitlement,
    EntitlementAccount,
    Term,
    TermKind,
    certificate_path,
)
from apps.entitlements.pdf import certificate_pdf
from apps.entitlements.selectors import RENEWAL_OWNER_ROLE, renewal_owner_matches
from apps.entitlements.terms import initial_term, renewal_term
from apps.orders.models import OrderLine

logger = logging.getLogger(__name__)


def certificate_first_rescue(now: datetime.datetime) -> datetime.datetime:
    """When the rescuer may first hand a certificate queued `now` to the workers again: a
    render lease later. Its task went to the pdf queue with it, and on a big day that queue
    holds minutes of work: until then the certificate is only waiting its turn, and handing
    it out again would only queue a second task behind the first. A message that was lost
    (Redis restarted empty) is handed out again after that lease, as a killed worker's row
    is."""
    return now + datetime.timedelta(seconds=settings.CERTIFICATE_RENDER_LEASE)


def entitlements_create_for_lines(
    *, lines: list[OrderLine], starts_on: datetime.date, order_accounts: dict[int, list]
) -> list[Entitlement]:
    """Create one entitlement per shipped line, with fresh codes, the order's accounts and a
    certificate to render. Bulk writes: call inside the fulfilment transaction.

    `order_accounts` maps an order id to its OrderAccount rows. The order line's one-to-one
    key makes a second entitlement for the same line impossible.
    """
    entitlements = []
    for line in lines:
        code = codes.new_activation_code()
        term_end, grace_end = initial_term(starts_on, line.product.term_months)
        entitlements.append(
            Entitlement(
                ssrn=codes.new_ssrn(),
                activation_code_digest=sealing.code_digest(code),
                activation_code_sealed=sealing.seal(code),
                product=line.product,
                order_line=line,
                quantity=line.quantity,
                starts_on=starts_on,
                term_ends_on=term_end,
                grace_ends_on=grace_end,
            )
        )
    Entitlement.objects.bulk_create(entitlements)
    Term.objects.bulk_create(
        Term(
            entitlement=entitlement,
            sequence=1,
            kind=TermKind.INITIAL,
            order_line=entitlement.order_line,
            starts_on=entitlement.starts_on,
            ends_on=entitlement.term_ends_on,
            grace_ends_on=entitlement.grace_ends_on,
        )
        for entitlement in entitlements
        if entitlement.term_ends_on  # a perpetual license has no timer
    )
    EntitlementAccount.objects.bulk_create(
        EntitlementAccount(
            entitlement=entitlement,
            product_id=entitlement.product_id,
            account_id=role.account_id,
            role=role.role,
        )
        for entitlement in entitlements
        for role in order_accounts[entitlement.order_line.order_id]
    )
    first_rescue = certificate_first_rescue(timezone.now())
    Certificate.objects.bulk_create(
        Certificate(
            entitlement=entitlement,
            language=entitlement.order_line.order.language,
            next_attempt_at=first_rescue,
        )
        for entitlement in entitlements
    )
    entitlement_changes_record(
        entitlements=entitlements,
        kind=ChangeKind.CREATED,
        data=lambda entitlement: {
            "order_number": entitlement.order_line.order.order_number,
            "line_number": entitlement.order_line.line_number,
        },
    )
    return entitlements


def _certificate_locked(certificate_id: int) -> Certificate | None:
    return (
        Certificate.objects.select_for_update(of=("self",))
        .select_related("entitlement__product", "entitlement__order_line__order")
        .filter(pk=certificate_id)
        .first()
    )


def certificate_render(*, certificate_id: int) -> Certificate | None:
    """Render and store one certificate.

    Three short transactions: take the row under a lease, render outside any transaction
    (seconds of CPU must not hold a row lock), then store the PDF and mark it ready. Safe to
    run twice: a ready or failed certificate is left alone, a certificate another worker is
    rendering is left to it until its lease runs out, and rendering the same data again
    gives the same PDF.
    """
    now = timezone.now()
    with transaction.atomic():
        certificate = _certificate_locked(certificate_id)
        if certificate is None or certificate.status in (
            CertificateStatus.READY,
            CertificateStatus.FAILED,
        ):
            return certificate
        leased = certificate.lease_expires_at and certificate.lease_expires_at > now
        if certificate.status == CertificateStatus.RENDERING and leased:
            return certificate
        certificate.status = CertificateStatus.RENDERING
        certificate.attempts += 1
        certificate.lease_expires_at = now + datetime.timedelta(
            seconds=settings.CERTIFICATE_RENDER_LEASE
        )
        certificate.save(update_fields=["status", "attempts", "lease_expires_at"])
    entitlement = certificate.entitlement
    line = entitlement.order_line
    with log_context(ssrn=entitlement.ssrn, order_number=line.order.order_number if line else None):
        return _certificate_render_leased(certificate)


def _certificate_render_leased(certificate: Certificate) -> Certificate | None:
    """Render a certificate this worker holds the lease of, and store it (certificate_render)."""
    certificate_id = certificate.pk
    started = time.perf_counter()
    try:
        pdf = certificate_pdf(certificate)
    except SoftTimeLimitExceeded as error:
        # The task's time is up: the row goes back for another try (an attempt, so a PDF
        # that never ends fails in the end), and the task stops here.
        logger.warning("certificate %s: rendering ran out of time", certificate_id)
        _certificate_failed(certificate_id, error)
        raise
    except Exception as error:
        logger.exception("certificate %s could not be rendered", certificate_id)
        return _certificate_failed(certificate_id, error)
    rendering = time.perf_counter() - started
    # A database connection lost meanwhile does not throw the render away (atomic_reconnecting).
    return atomic_reconnecting(_certificate_store, certificate_id, pdf, rendering)


def _certificate_store(certificate_id: int, pdf: bytes, rendering: float) -> Certificate | None:
    """Store a rendered PDF and mark its certificate ready, if this worker still holds it."""
    certificate = _certificate_locked(certificate_id)
    if certificate is None or certificate.status != CertificateStatus.RENDERING:
        return certificate
    name = certificate_path(certificate, "")
    if default_storage.exists(name):  # a render of a worker that died after storing
        default_storage.delete(name)
    certificate.file.save(name, ContentFile(pdf), save=False)
    certificate.sha256 = hashlib.sha256(pdf).hexdigest()
    certificate.status = CertificateStatus.READY
    certificate.rendered_at = timezone.now()
    certificate.lease_expires_at = None
    certificate.last_error = ""
    certificate.save()
    transaction.on_commit(lambda: _certificate_count(rendering))
    return certificate


def _certificate_count(seconds: float) -> None:
    metrics.certificates_rendered.inc()
    metrics.certificate_render_seconds.observe(seconds)


def _certificate_failed(certificate_id: int, error: Exception) -> Certificate | None:
    return atomic_reconnecting(_certificate_put_back, certificate_id, error)


def _certificate_put_back(certificate_id: int, error: Exception) -> Certificate | None:
    certificate = _certificate_locked(certificate_id)
    if certificate is None or certificate.status != CertificateStatus.RENDERING:
        return certificate
    certificate.last_error = f"{error.__class__.__name__}: {error}"[:1000]
    certificate.lease_expires_at = None
    if certificate.attempts >= MAX_ATTEMPTS:
        certificate.status = CertificateStatus.FAILED
    else:
        certificate.status = CertificateStatus.QUEUED
        certificate.next_attempt_at = timezone.now() + retry_delay(certificate.attempts)
    certificate.save()
    return certificate


@transaction.atomic
def certificate_reissue(*, entitlement: Entitlement, actor, reason: str) -> Certificate:
    """A new version of the entitlement's certificate, queued for rendering; audited."""
    latest = entitlement.certificates.order_by("-version").first()
    certificate = Certificate.objects.create(
        entitlement=entitlement,
        version=(latest.version + 1) if latest else 1,
        language=entitlement.order_line.order.language,
        reason=reason,
        next_attempt_at=certificate_first_rescue(timezone.now()),
    )
    audit_event_record(
        actor=actor,
        action="certificate.reissued",
        target=entitlement,
        message=f"certificate version {certificate.version}: {reason}",
    )
    entitlement_changes_record(
        entitlements=[entitlement],
        kind=ChangeKind.CERTIFICATE_REISSUED,
        data={"certificate_version": certificate.version},
    )
    transaction.on_commit(lambda: _render_later(certificate.pk))
    return certificate


def _render_later(certificate_id: int) -> None:
    from apps.entitlements.tasks import certificate_render_task

    certificate_render_task.delay(certificate_id)


@transaction.atomic
def certificates_retry(*, certificate_ids, actor) -> list[Certificate]:
    """Give failed certificates a fresh set of attempts, now; audited."""
    certificates = list(
        Certificate.objects.select_for_update()
        .select_related("entitlement")
        .filter(pk__in=certificate_ids, status=CertificateStatus.FAILED)
    )
    for certificate in certificates:
        before = field_values(certificate, ["status", "attempts"])
        certificate.status, certificate.attempts = CertificateStatus.QUEUED, 0
        # Handed to the pdf queue on commit: the rescuer looks again only if that is lost.
        certificate.next_attempt_at = certificate_first_rescue(timezone.now())
        certificate.lease_expires_at = None
        certificate.save(
            update_fields=["status", "attempts", "next_attempt_at", "lease_expires_at"]
        )
        audit_event_record(
            actor=actor,
            action="certificate.retried",
            target=certificate.entitlement,
            data={
                "certificate": certificate.version,
                **field_changes(before, certificate, ["status", "attempts"]),
            },
        )
        transaction.on_commit(lambda pk=certificate.pk: _render_later(pk))
    return certificates


def renewal_targets(
    *, lines: list[OrderLine], order_accounts: dict[int, list]
) -> dict[int, Entitlement | str]:
    """For each renewal line, the entitlement it renews (locked), or why it cannot.

    Intake checked the same, but a line may become wrong before it ships: the entitlement is
    revoked or changes hands, or the order's accounts are edited. `order_accounts` maps an
    order id to its OrderAccount rows; the order's end customer must be an end customer of
    the entitlement (see selectors.renewal_owner_matches).
    """
    ssrns = {_canonical_ssrn(line.renews_ssrn) for line in lines}
    found = {
        entitlement.ssrn: entitlement
        for entitlement in Entitlement.objects.select_for_update(of=("self",))
        .select_related("product")
        .prefetch_related("entitlement_accounts")
        .filter(ssrn__in=ssrns)
    }
    targets: dict[int, Entitlement | str] = {}
    for line in lines:
        entitlement = found.get(_canonical_ssrn(line.renews_ssrn))
        end_customers = {
            role.account_id
            for role in order_accounts[line.order_id]
            if role.role == RENEWAL_OWNER_ROLE
        }
        if entitlement is None:
            targets[line.pk] = f"renewal of {line.renews_ssrn}: no entitlement has this SSRN"
        elif not renewal_owner_matches(entitlement=entitlement, account_pks=end_customers):
            targets[line.pk] = (
                f"renewal of {line.renews_ssrn}: the order's end customer is not the end "
                "customer of the entitlement"
            )
        elif entitlement.revoked_at:
            targets[line.pk] = f"renewal of {line.renews_ssrn}: the entitlement is revoked"
        elif entitlement.term_ends_on is None:
            targets[line.pk] = (
                f"renewal of {line.renews_ssrn}: the entitlement is perpetual: it has no term "
                "to renew"
            )
        elif entitlement.product_id != line.product.renews_id:
            targets[line.pk] = (
                f'renewal of {line.renews_ssrn}: "{line.product.sku}" does not renew '
                f'"{entitlement.product.sku}"'
            )
        else:
            targets[line.pk] = entitlement
    return targets


def _canonical_ssrn(text: str) -> str:
    # Lines stored before intake wrote SSRNs in their canonical form may hold them as typed.
    parsed = codes.parse_code(text)
    return parsed.value if parsed.kind == codes.CodeKind.SSRN else text.strip().upper()


def entitlements_renew(
    *, lines: list[OrderLine], targets: dict[int, Entitlement], shipped_on, actor
) -> list[Term]:
    """Add a renewal term per line to the entitlement it renews, queue its certificate with
    the new dates and re-issue the license keys of its live activations with them (the old
    keys are kept as superseded; see activation_keys_reissue). The SSRN and the activation
    code stay. Call inside the fulfilment transaction, with the entitlements locked by
    renewal_targets; `actor` is the shipping path's.

    The renewal order's addresses get this certificate and an email that name the SSRN and
    the new dates but never the activation code (nor a heritage product's keys): an existing
    code goes only to those who had it, the addresses of the order that bought it and the
    contacts of the entitlement's accounts in the portal. The entitlement's accounts stay.
    """
    terms = []
    today = business_today()
    for line in lines:
        entitlement = targets[line.pk]
        # A move the calendar made before the renewal is told first, so the feed keeps the
        # entitlement's story in order (in grace, then renewed).
        entitlement_calendar_changes(entitlements=[entitlement], today=today)
        latest = entitlement.terms.order_by("-sequence").first()
        start, end = renewal_term(
            current_end=entitlement.term_ends_on,
            shipped_on=shipped_on,
            months=line.product.term_months,
        )
        term = Term.objects.create(
            entitlement=entitlement,
            sequence=(latest.sequence + 1) if latest else 2,
            kind=TermKind.RENEWAL,
            order_line=line,
            starts_on=start,
            ends_on=end,
        )
        terms.append(term)
        entitlement.term_ends_on, entitlement.grace_ends_on = end, None
        entitlement.feed_status = entitlement.status_on(today)
        entitlement.save(
            update_fields=["term_ends_on", "grace_ends_on", "feed_status", "updated_at"]
        )
        entitlement_changes_record(
            entitlements=[entitlement],
            kind=ChangeKind.RENEWED,
            today=today,
            data={
                "order_number": line.order.order_number,
                "line_number": line.line_number,
                "term_starts_on": start.isoformat(),
                "term_ends_on": end.isoformat(),
            },
        )
        activation_keys_reissue(entitlement=entitlement, renewal=term, actor=actor)
        version = (
            entitlement.certificates.order_by("-version").values_list("version", flat=True).first()
            or 0
        )
        Certificate.objects.create(
            entitlement=entitlement,
            version=version + 1,
            language=line.order.language,
            reason=f"renewed by {line} until {end:%Y-%m-%d}",
            shows_activation_code=False,
            next_attempt_at=certificate_first_rescue(timezone.now()),
        )
    return terms


PAPER_DELIVERY_FIELDS = ["paper_certificate_number", "tracking_number"]


@transaction.atomic
def entitlement_paper_delivery_record(
    *, entitlement: Entitlement, certificate_number: str, tracking_number: str, actor
) -> Entitlement:
    """Record the paper certificate that shipped with the hardware and the shipment's
    tracking number (paper products only); audited with the old and new values. The portal
    shows both."""
    if entitlement.product.delivery_method != DeliveryMethod.PAPER:
        raise Rejected([f"{entitlement.ssrn} is not a paper license."])
    before = field_values(entitlement, PAPER_DELIVERY_FIELDS)
    entitlement.paper_certificate_number = certificate_number.strip()
    entitlement.tracking_number = tracking_number.strip()
    entitlement.save(update_fields=["paper_certificate_number", "tracking_number", "updated_at"])
    audit_event_record(
        actor=actor,
        action="entitlement.paper_delivery_recorded",
        target=entitlement,
        data=field_changes(before, entitlement, PAPER_DELIVERY_FIELDS),
    )
    entitlement_changes_record(
        entitlements=[entitlement],
        kind=ChangeKind.PAPER_DELIVERY_RECORDED,
        data={
            "certificate_number": entitlement.paper_certificate_number,
            "tracking_number": entitlement.tracking_number,
        },
    )
    return entitlement
