from django import forms
from django.utils.translation import gettext_lazy as _

from apps.portal.sign_in_links import TOKEN_MAX_LENGTH, token_from_text


class SignInLinkForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        help_text=_("The address your Fulfillment Emails came to."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class SignInLinkUseForm(forms.Form):
    """The token, from the link's fragment (filled in by the page's script) or pasted."""

    token = forms.CharField(required=False, max_length=TOKEN_MAX_LENGTH, widget=forms.HiddenInput)
    link = forms.CharField(
        label=_("The link from the email"),
        required=False,
        max_length=TOKEN_MAX_LENGTH,
        help_text=_("If this page does not sign you in, paste the whole link here."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not self.token_text():
            raise forms.ValidationError(_("Paste the link from the email."))
        return cleaned

    def token_text(self) -> str:
        values = getattr(self, "cleaned_data", {})
        return token_from_text(values.get("token") or values.get("link") or "")


class OrderAddressAccessForm(forms.Form):
    account = forms.ModelChoiceField(
        label=_("Account"),
        queryset=None,
        to_field_name="account_id",
        empty_label=None,
        help_text=_("The accounts your entitlements name."),
    )
    reason = forms.CharField(
        label=_("Why do you need access?"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: “I manage the firewalls of this company as its partner.”"),
    )

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["account"].label_from_instance = lambda a: f"{a.account_id} {a.name}"
