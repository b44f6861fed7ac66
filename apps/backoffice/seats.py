"""The admin's Seats page (/admin/seats/): seats owned, used and free per account and product,
over every account, filtered by Account ID and product, paged by account, exported as CSV.
The numbers come from apps.entitlements.seats, as the portal's do."""

import datetime

from django import forms
from django.core.validators import RegexValidator
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.models import Account
from apps.catalog.models import Product
from apps.core.csv_files import CsvWriter
from apps.entitlements.seats import seats_accounts, seats_by_account_and_product, seats_rows_all

# Who may read it: both roles answer customers' and partners' questions about seats.
PERMISSIONS = ("entitlements.view_entitlement", "accounts.view_account")
ACCOUNTS_PER_PAGE = 10


class SeatsFilterForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Account ID"),
        required=False,
        max_length=20,
        validators=[RegexValidator(r"^\d+$", gettext_lazy("An Account ID is digits only."))],
        help_text=gettext_lazy("The whole Account ID, or how it begins."),
    )
    product = forms.ModelChoiceField(
        label=gettext_lazy("Product"),
        queryset=Product.objects.order_by("name", "sku"),
        to_field_name="sku",
        required=False,
        empty_label=gettext_lazy("All products"),
    )

    def clean_q(self):
        return self.cleaned_data["q"].strip()


def seats_filtered(form: SeatsFilterForm) -> tuple:
    """(accounts, product pk) that the form's valid filters select; no account when a
    filter is not valid (an Account ID with letters, an unknown product)."""
    if not form.is_valid():
        return Account.objects.none(), None
    accounts = Account.objects.all()
    if form.cleaned_data["q"]:
        accounts = accounts.filter(account_id__startswith=form.cleaned_data["q"])
    product = form.cleaned_data["product"]
    product_pk = product.pk if product else None
    return seats_accounts(accounts=accounts, product_pk=product_pk), product_pk


def seats_page(*, form: SeatsFilterForm, page_number: str | None, today: datetime.date) -> dict:
    """The page's context: a page of accounts and their rows. Pages go by "next" and
    "previous", without a total: counting every account that has an entitlement of a
    product reads all of that product's entitlements, while a page stops at its last
    account."""
    accounts, product_pk = seats_filtered(form)
    # ASCII digits only: "²" is a digit to isdigit() but not a number to int().
    page_number = page_number or ""
    number = (
        int(page_number)
        if page_number.isascii() and page_number.isdigit() and len(page_number) < 7
        else 1
    )
    number = max(number, 1)
    start = (number - 1) * ACCOUNTS_PER_PAGE
    page = list(accounts[start : start + ACCOUNTS_PER_PAGE + 1])
    rows = seats_by_account_and_product(
        account_pks=[account.pk for account in page[:ACCOUNTS_PER_PAGE]],
        today=today,
        product_pk=product_pk,
    )
    return {
        "rows": rows,
        "page_number": number,
        "previous_page": number - 1 if number > 1 else None,
        "next_page": number + 1 if len(page) > ACCOUNTS_PER_PAGE else None,
    }


class _Echo:
    def write(self, value):
        return value


def seats_csv(*, form: SeatsFilterForm, today: datetime.date) -> StreamingHttpResponse:
    """Every row the filters select, not one page, streamed a batch of accounts at a time."""
    accounts, product_pk = seats_filtered(form)
    writer = CsvWriter(_Echo())  # an account or product name never runs as a formula
    header = [
        _("Account ID"),
        _("Account"),
        _("SKU"),
        _("Product"),
        _("Seats owned"),
        _("Seats used"),
        _("Seats free"),
    ]

    def lines():
        yield writer.writerow(header)
        for row in seats_rows_all(accounts=accounts, today=today, product_pk=product_pk):
            yield writer.writerow(
                [
                    row.account_id,
                    row.account_name,
                    row.product_sku,
                    row.product_name,
                    row.owned,
                    row.used,
                    row.free,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="seats-{today}.csv"'
    return response
