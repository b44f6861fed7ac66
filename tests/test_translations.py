"""Keyship in English, German, French, Japanese and Simplified Chinese: complete catalogs,
and the emails, certificates and portal pages a customer reads in each language."""

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core import mail
from django.test import TestCase
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from pypdf import PdfReader

from apps.core.actors import Job
from apps.entitlements.pdf import certificate_pdf
from apps.fulfillment.services import order_lines_fulfil_due
from tests.factories.entitlements import CertificateFactory, EntitlementAccountFactory
from tests.fulfillment.helpers import order_with_lines, today
from tests.fulfillment.test_ship_due import pdf_text
from tests.portal.helpers import entitlement_of, new_account, portal_contact

LOCALES = {"de": "de", "fr": "fr", "ja": "ja", "zh_Hans": "zh-hans"}
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[sd]|\{\w+\}")
ROOT = Path(settings.BASE_DIR)


def _catalog(locale: str) -> polib.POFile:
    return polib.pofile(str(ROOT / "locale" / locale / "LC_MESSAGES" / "django.po"))


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("locale", LOCALES)
def test_each_catalog_is_complete_without_fuzzy_entries_and_keeps_every_placeholder(locale):
    catalog = _catalog(locale)
    problems = [f"untranslated: {e.msgid!r}" for e in catalog.untranslated_entries()]
    problems += [f"fuzzy: {e.msgid!r}" for e in catalog.fuzzy_entries()]
    single_form = catalog.metadata["Plural-Forms"].startswith("nplurals=1")
    for entry in catalog.translated_entries():
        if entry.msgid_plural:
            for n, form in entry.msgstr_plural.items():
                source = entry.msgid if n == 0 and not single_form else entry.msgid_plural
                if _placeholders(form) != _placeholders(source):
                    problems.append(f"placeholders of {entry.msgid!r}[{n}]: {form!r}")
        else:
            if _placeholders(entry.msgstr) != _placeholders(entry.msgid):
                problems.append(f"placeholders of {entry.msgid!r}: {entry.msgstr!r}")
            if entry.msgid.count("<a ") != entry.msgstr.count("<a "):
                problems.append(f"link lost in {entry.msgid!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogs_hold_every_string_of_the_code_and_templates(tmp_path):
    # makemessages on a copy of the sources: a string added without its translations fails.
    for name in ("apps", "config", "templates", "locale"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copy(ROOT / "manage.py", tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "de", "--no-location", "-v", "0"],
        cwd=tmp_path,
        check=True,
    )
    fresh = polib.pofile(str(tmp_path / "locale/de/LC_MESSAGES/django.po"))
    missing = [e.msgid for e in fresh if not e.obsolete and not e.translated()]
    assert not missing, f"strings without translations, run makemessages: {missing}"


@pytest.mark.django_db
@pytest.mark.parametrize("language", LOCALES.values())
def test_the_fulfillment_email_and_certificate_are_in_the_orders_language(
    language, django_capture_on_commit_callbacks
):
    order = order_with_lines(dates=[today()], language=language)

    with django_capture_on_commit_callbacks(execute=True):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    (message,) = mail.outbox
    with translation.override(language):
        subject_start = _("Your licenses for order %(order)s: %(products)s").split("%(order)s")[0]
        shipped = _("Your licenses for sales order %(order)s have shipped.") % {
            "order": order.order_number
        }
        title = _("Software Entitlement Certificate")
    assert message.subject.startswith(subject_start) and subject_start != "Your licenses for order "
    assert shipped in message.body
    (_name, pdf, _type) = next(a for a in message.attachments if a[0].endswith(".pdf"))
    assert title in pdf_text(pdf) and title != "Software Entitlement Certificate"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading", "status"),
    [
        ("ja", "ソフトウェア エンタイトルメント証明書", "永続"),
        ("zh-hans", "软件授权证书", "永久"),
    ],
)
def test_japanese_and_chinese_certificates_have_real_glyphs(language, heading, status):
    role = EntitlementAccountFactory(account__name="Northwind Networks")
    certificate = CertificateFactory(entitlement=role.entitlement, language=language)

    pdf = certificate_pdf(certificate)
    text = pdf_text(pdf)

    # The text comes back out of the PDF, drawn with the CJK font the project installs.
    assert heading in text and status in text
    assert "\ufffd" not in text
    assert any("Noto-Sans-CJK" in name for name in _font_names(pdf))


def _font_names(pdf: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object().get("/BaseFont")))
    return names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading", "date"),
    [
        ("de", "Ihre Berechtigungen", "1. März 2026"),
        ("fr", "Vos droits de licence", "1 mars 2026"),
        ("ja", "エンタイトルメント一覧", "2026年3月1日"),
        ("zh-hans", "您的授权", "2026年3月1日"),
    ],
)
def test_the_portal_speaks_the_users_choice_else_the_browsers(client, language, heading, date):
    import datetime

    account = new_account()
    entitlement = entitlement_of(account, starts_on=datetime.date(2026, 3, 1))
    client.force_login(portal_contact(account).user)

    by_browser = client.get(reverse("portal:entitlements"), HTTP_ACCEPT_LANGUAGE=language)
    assert heading in by_browser.content.decode()

    client.post(reverse("portal:language"), {"language": language})
    chosen = client.get(
        reverse("portal:entitlement", args=[entitlement.ssrn]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert date in chosen.content.decode()


@pytest.mark.django_db
def test_the_portals_emails_speak_the_contacts_language(client):
    account = new_account()
    contact = portal_contact(account)
    contact.language = "fr"
    contact.save()
    entitlement = entitlement_of(account)
    client.force_login(contact.user)
    client.post(reverse("portal:activate", args=[entitlement.ssrn]), {"serial_numbers": "SN-1"})

    with TestCase.captureOnCommitCallbacks(execute=True):  # the email leaves on commit
        client.post(
            reverse("portal:keys-email", args=[entitlement.ssrn]), HTTP_ACCEPT_LANGUAGE="en"
        )

    (message,) = mail.outbox
    assert message.subject == f"Clés de licence de {entitlement.ssrn}"
