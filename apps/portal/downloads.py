"""An entitlement's files as the portal hands them out, to a contact or an order address: the
caller has already decided that the visitor may see the entitlement."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.utils.translation import gettext as _

from apps.entitlements.models import Certificate, CertificateStatus, Entitlement
from apps.entitlements.selectors import license_keys_problem
from apps.portal.keys import entitlement_keys_file


def ready_certificate(entitlement: Entitlement) -> Certificate | None:
    """The newest rendered certificate of the entitlement, if one is ready."""
    return (
        entitlement.certificates.filter(status=CertificateStatus.READY).order_by("-version").first()
    )


def certificate_download(entitlement: Entitlement) -> FileResponse:
    certificate = ready_certificate(entitlement)
    if certificate is None:
        raise Http404(_("The certificate is being prepared; try again in a minute."))
    return FileResponse(
        certificate.file.open("rb"),
        as_attachment=True,
        filename=certificate.filename,
        content_type="application/pdf",
    )


def keys_download(entitlement: Entitlement) -> HttpResponse:
    problem = license_keys_problem(entitlement=entitlement)
    if problem:
        raise PermissionDenied(problem)
    filename, text = entitlement_keys_file(entitlement=entitlement)
    if not text:
        raise Http404(_("This entitlement has no license keys yet."))
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
