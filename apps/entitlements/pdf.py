"""The Software Entitlement Certificate as a PDF, rendered by WeasyPrint."""

import logging
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from apps.core.dates import business_today
from apps.entitlements.models import Certificate
from apps.orders.models import AccountRole

logger = logging.getLogger(__name__)

STYLESHEET = settings.BASE_DIR / "static" / "certificates" / "certificate.css"
# The browser defaults the certificate's elements need, in place of WeasyPrint's own.
USER_AGENT_STYLESHEET = settings.BASE_DIR / "static" / "certificates" / "user-agent.css"


class ProjectFilesFetcher(URLFetcher):
    """Lets WeasyPrint read data: URIs and the project's templates and static files, and
    nothing else: no network, no other file on the machine."""

    ROOTS = (settings.BASE_DIR / "templates", settings.BASE_DIR / "static")

    def __init__(self):
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)

    def fetch(self, url, headers=None):
        if url.startswith("file:"):
            path = Path(unquote(urlsplit(url).path)).resolve()
            if not any(path.is_relative_to(root.resolve()) for root in self.ROOTS):
                raise ValueError(f"certificates may only use the project's files, not {path}")
        elif not url.startswith("data:"):
            raise ValueError(f"certificates fetch nothing from the network: {url[:80]}")
        return super().fetch(url, headers)


@cache
def _rendering_kit() -> tuple[FontConfiguration, CSS, ProjectFilesFetcher, CSS]:
    # Parsing the stylesheets and loading fonts costs about a third of a render: once per process.
    fonts = FontConfiguration()
    fetcher = ProjectFilesFetcher()
    css = CSS(filename=str(STYLESHEET), font_config=fonts, url_fetcher=fetcher)
    user_agent = CSS(filename=str(USER_AGENT_STYLESHEET), url_fetcher=fetcher)
    return fonts, css, fetcher, user_agent


class CertificateHTML(HTML):
    """A certificate's HTML, cascaded over the few browser defaults its elements need
    (USER_AGENT_STYLESHEET) instead of WeasyPrint's whole HTML stylesheet. WeasyPrint reads
    its user-agent stylesheets from this method (pinned WeasyPrint 70.0)."""

    def _ua_stylesheets(self, forms=False):
        return [_rendering_kit()[3]]


def verification_url(ssrn: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("entitlement-verify", args=[ssrn])


def certificate_context(certificate: Certificate) -> dict:
    entitlement = certificate.entitlement
    line = entitlement.order_line
    roles = list(entitlement.entitlement_accounts.select_related("account").order_by("id"))
    holder = next((r for r in roles if r.role == AccountRole.END_CUSTOMER), None)
    url = verification_url(entitlement.ssrn)
    return {
        "certificate": certificate,
        "entitlement": entitlement,
        # Not even unsealed for a certificate that must not print it.
        "activation_code": (
            entitlement.activation_code if certificate.shows_activation_code else None
        ),
        "product": entitlement.product,
        "order": line.order,
        "line": line,
        "holder": holder.account if holder else None,
        "other_accounts": [r for r in roles if r is not holder],
        "issued_on": certificate.created_at.date() if certificate.created_at else business_today(),
        "verification_url": url,
        "verification_qr": segno.make(url, error="l").png_data_uri(scale=3, border=0),
    }


def certificate_html(certificate: Certificate) -> str:
    with translation.override(certificate.language):
        return render_to_string("certificates/certificate.html", certificate_context(certificate))


def html_to_pdf(html: str) -> bytes:
    fonts, css, fetcher, _user_agent = _rendering_kit()
    document = CertificateHTML(
        string=html, base_url=str(settings.BASE_DIR / "static"), url_fetcher=fetcher
    )
    return document.write_pdf(stylesheets=[css], font_config=fonts)


def certificate_pdf(certificate: Certificate) -> bytes:
    """The certificate's PDF: the same data gives the same document."""
    return html_to_pdf(certificate_html(certificate))
