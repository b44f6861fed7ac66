import uuid

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import account_id_validator
from apps.core.codes import CodeKind, parse_code
from apps.core.contracts import Rejected
from apps.entitlements.activations import serial_numbers_parse
from apps.entitlements.models import EntitlementStatus
from apps.entitlements.selectors import PORTAL_ORDERINGS, EntitlementFilter
from apps.outbox.kinds import sealed_email
from apps.outbox.models import DeliveryKind, topic
from apps.outbox.services import delivery_queue

SERIALS_HELP = _("One serial number per line, as printed on the device's label.")


class EntitlementFilterForm(forms.Form):
    """The list's filters, from the query string; a value it does not know is ignored."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("An SSRN, activation code, order number or device serial number."),
    )
    account = forms.ChoiceField(label=_("Account"), required=False)
    product = forms.ChoiceField(label=_("Product"), required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *EntitlementStatus.choices],
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, key) for name in PORTAL_ORDERINGS for key in (name, f"-{name}")],
    )

    def __init__(self, data, *, accounts, products):
        super().__init__(data)
        self.fields["account"].choices = [("", _("All accounts"))] + [
            (account.account_id, f"{account.account_id} {account.name}") for account in accounts
        ]
        self.fields["product"].choices = [("", _("All products"))] + [
            (product.sku, product.name) for product in products
        ]

    def filters(self) -> EntitlementFilter:
        """The valid values; one the form refuses (an account no longer associated, an
        unknown status) is left out, not an error page."""
        self.is_valid()
        values = self.cleaned_data
        return EntitlementFilter(
            account_id=values.get("account") or "",
            sku=values.get("product") or "",
            status=values.get("status") or "",
            search=(values.get("q") or "").strip(),
            ordering=values.get("sort") or "-start",
        )


class SerialNumbersForm(forms.Form):
    serial_numbers = forms.CharField(
        label=_("Device serial numbers"),
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=SERIALS_HELP,
        max_length=40000,
    )


class RehostRequestForm(forms.Form):
    """A portal user asks to move a device's activation to its replacement (an RMA)."""

    new_serial_number = forms.CharField(
        label=_("Replacement device's serial number"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    reason = forms.CharField(
        label=_("What happened to the device"),
        max_length=200,
        help_text=_("For Customer Care, e.g. the RMA number or the fault."),
    )


class ActivationCodeForm(SerialNumbersForm):
    """Activation by someone who holds the code but does not see the account (an installer)."""

    activation_code = forms.CharField(
        label=_("Activation code"),
        max_length=60,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("28 letters and digits, from the Fulfillment Email or the certificate."),
    )
    field_order = ["activation_code", "serial_numbers"]

    def clean_activation_code(self):
        return code_cleaned(self.cleaned_data["activation_code"])


def code_cleaned(text: str) -> str:
    """A typed activation (or authorization) code in its canonical form, or a message that
    tells a typing mistake from a text that is no code at all."""
    parsed = parse_code(text)
    if parsed.kind == CodeKind.SSRN:
        raise forms.ValidationError(
            _("This is an SSRN, a reference number. Enter the code from the email instead.")
        )
    if parsed.kind is None:
        raise forms.ValidationError(_("The code has 28 letters and digits, in groups of four."))
    if parsed.mistyped:
        raise forms.ValidationError(
            _(
                "This code has a typing mistake: one character is wrong or two are swapped. "
                "Compare it with the email or the certificate."
            )
        )
    return parsed.value


class LegacyKeyForm(forms.Form):
    """A key from the legacy License Management System's pool, for one device."""

    authorization_code = forms.CharField(
        label=_("Authorization code"),
        max_length=60,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("From the Fulfillment Email or the certificate."),
    )
    serial_number = forms.CharField(
        label=_("Device serial number"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_authorization_code(self):
        return code_cleaned(self.cleaned_data["authorization_code"])

    def clean_serial_number(self):
        try:
            (serial,) = serial_numbers_parse(self.cleaned_data["serial_number"])
        except (Rejected, ValueError):
            raise forms.ValidationError(
                _("A serial number has 2 to 64 letters, digits, dots, dashes or slashes.")
            ) from None
        return serial


class AccessRequestForm(forms.Form):
    account_id = forms.CharField(
        label=_("Account ID"),
        max_length=20,
        validators=[account_id_validator],
        help_text=_("On your order confirmation and on every certificate."),
    )
    reason = forms.CharField(
        label=_("Why do you need access?"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: “I manage the firewalls of this company as its partner.”"),
    )


class CustomerAdminDecisionForm(forms.Form):
    """A customer admin's answer to one access request: which button, and a note."""

    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("deny", _("Deny"))])
    note = forms.CharField(
        label=_("Note to the contact (optional)"),
        required=False,
        max_length=500,
    )


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"))

    def __init__(self, *args, languages, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = languages


class PasswordByEmailForm(PasswordResetForm):
    """Also for a contact who has no password yet: logins made by the ERP's data have none,
    and their first password is set through this link.

    Staff and superusers get no email from this public form (its answer is the same): a
    mailbox taken over must not become the admin. Their passwords are changed in the admin
    (a superuser's "Change password" on the user, or `manage.py changepassword`).
    """

    def get_users(self, email):
        return get_user_model().objects.filter(
            email__iexact=email, is_active=True, is_staff=False, is_superuser=False
        )

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        """Onto the outbox, as every email: the link is sealed at rest, and a mail server
        that is away delays the email instead of failing the page."""
        delivery_queue(
            kind=DeliveryKind.PASSWORD_RESET,
            topic=topic("password_reset", uuid.uuid4().hex),
            recipient=to_email,
            language=translation.get_language() or "en",
            content=sealed_email(
                subject=render_to_string(subject_template_name, context),
                text=render_to_string(email_template_name, context),
                html=render_to_string(html_email_template_name, context)
                if html_email_template_name
                else "",
            ),
        )
