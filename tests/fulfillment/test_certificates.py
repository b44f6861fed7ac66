import http.server
import threading

import pytest
from django.urls import reverse
from weasyprint import HTML

from apps.entitlements import pdf as certificate_pdfs
from apps.entitlements.models import CertificateStatus
from apps.entitlements.pdf import certificate_html, certificate_pdf, html_to_pdf
from apps.entitlements.services import certificate_reissue, certificate_render
from tests.factories.entitlements import CertificateFactory, EntitlementAccountFactory
from tests.fulfillment.test_ship_due import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def certificate():
    role = EntitlementAccountFactory(
        account__name="Northwind Networks", account__account_id="0100012345"
    )
    return CertificateFactory(entitlement=role.entitlement)


def test_the_certificate_says_what_the_customer_owns(certificate):
    entitlement = certificate.entitlement
    line = entitlement.order_line

    text = pdf_text(certificate_pdf(certificate))

    for expected in [
        "Software Entitlement Certificate",
        "Northwind Networks",
        "0100012345",
        line.order.order_number,
        entitlement.product.name,
        entitlement.product.sku,
        entitlement.ssrn,
        entitlement.activation_code,
        "Perpetual",
        f"/verify/{entitlement.ssrn}/",
    ]:
        assert expected in text, expected


def test_rendering_stores_the_pdf_once_and_again_gives_the_same_bytes(certificate):
    rendered = certificate_render(certificate_id=certificate.pk)
    stored = rendered.file.read()

    again = certificate_pdf(rendered)

    assert rendered.status == CertificateStatus.READY and rendered.attempts == 1
    assert stored == again
    assert certificate_render(certificate_id=certificate.pk).attempts == 1  # ready: left alone


def test_a_reissue_is_a_new_version_and_keeps_the_old_one(
    certificate, admin_user, django_capture_on_commit_callbacks
):
    certificate_render(certificate_id=certificate.pk)

    with django_capture_on_commit_callbacks(execute=True):
        reissued = certificate_reissue(
            entitlement=certificate.entitlement, actor=admin_user, reason="new address"
        )

    reissued.refresh_from_db()
    assert reissued.version == 2 and reissued.status == CertificateStatus.READY
    assert "version 2" in pdf_text(reissued.file.read())
    assert certificate.entitlement.certificates.count() == 2


def _laid_out(html_class, html: str) -> list[tuple]:
    """Every box of the rendered certificate: its kind, place, size, text and colour."""
    fonts, css, fetcher, _user_agent = certificate_pdfs._rendering_kit()
    document = html_class(
        string=html, base_url=str(certificate_pdfs.STYLESHEET.parent), url_fetcher=fetcher
    ).render(stylesheets=[css], font_config=fonts)
    boxes = []

    def walk(box):
        boxes.append(
            (
                type(box).__name__,
                round(box.position_x, 2),
                round(box.position_y, 2),
                round(box.width or 0, 2),
                round(box.height or 0, 2),
                getattr(box, "text", None),
                str(box.style["color"]),
            )
        )
        for child in getattr(box, "children", []):
            walk(child)

    for page in document.pages:
        walk(page._page_box)
    return boxes, document.make_bookmark_tree()


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_certificate_looks_as_with_weasyprints_own_browser_defaults(certificate, language):
    # Certificates are rendered over a short user-agent stylesheet of their own (fewer rules
    # to match on each render): an element it leaves out would be laid out differently.
    certificate.language = language
    certificate.entitlement.product.term_months = 12
    certificate.entitlement.product.instructions_url = "https://docs.keyship.example/td"
    html = certificate_html(certificate)

    assert _laid_out(certificate_pdfs.CertificateHTML, html) == _laid_out(HTML, html)


class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_weasyprint_fetches_nothing_from_the_network_nor_files_outside_the_project(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.css"
    secret.write_text("body { background: red }")
    try:
        pdf = html_to_pdf(
            f'<link rel="stylesheet" href="http://127.0.0.1:{server.server_port}/x.css">'
            f'<img src="http://127.0.0.1:{server.server_port}/logo.png">'
            f'<link rel="stylesheet" href="file://{secret}">'
            '<img src="file:///etc/hostname"><p>still renders</p>'
        )
    finally:
        server.shutdown()

    assert _Counter.hits == 0
    assert "still renders" in pdf_text(pdf)


def test_the_verification_page_confirms_an_ssrn_without_its_secrets(client, certificate):
    entitlement = certificate.entitlement

    page = client.get(reverse("entitlement-verify", args=[entitlement.ssrn.lower()]))

    assert page.status_code == 200
    content = page.content.decode()
    assert "is a genuine Keyship entitlement" in content and entitlement.product.name in content
    assert entitlement.activation_code not in content
    assert "Northwind" not in content
    assert client.get(reverse("entitlement-verify", args=["AAAA-BBBB-CCCC"])).status_code == 404
