"""Operations' upload of an orders, catalog or accounts file: preview every row, then
confirm. The preview runs the very import and rolls it back, so it reports exactly what
the confirmation will do, and writes nothing."""

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from apps.accounts.services import accounts_import
from apps.catalog.services import catalog_import
from apps.core.contracts import ImportResult, Rejected, parse_json
from apps.entitlements.selectors import renewal_problem
from apps.orders.csv_file import errors_with_csv_lines, orders_document_from_csv
from apps.orders.services import orders_import


@dataclass(frozen=True)
class Kind:
    label: str
    permission: str
    takes_csv: bool = False


KINDS = {
    "orders": Kind(
        _("Sales orders (JSON, or CSV with one row per line)"), "orders.add_salesorder", True
    ),
    "catalog": Kind(_("Catalog (JSON)"), "catalog.add_product"),
    "accounts": Kind(_("Accounts and contacts (JSON)"), "accounts.add_account"),
}


def _run(kind: str, text: str, name: str, actor) -> ImportResult:
    origin: dict[str, int] = {}
    if kind == "orders" and name.lower().endswith(".csv"):
        document, origin = orders_document_from_csv(text, source=name)
    else:
        document = parse_json(text, name)
    try:
        if kind == "orders":
            # Who may not see activation codes may not redirect an order's either.
            return orders_import(
                document=document,
                actor=actor,
                renewal_check=renewal_problem,
                may_change_recipients=actor.has_perm("entitlements.view_activation_code"),
            )
        if kind == "catalog":
            return catalog_import(document=document, actor=actor)
        return accounts_import(document=document, actor=actor)
    except Rejected as rejected:
        rejected.errors = errors_with_csv_lines(rejected.errors, origin)
        raise


def file_preview(*, kind: str, text: str, name: str, actor) -> ImportResult:
    """What importing the file would do, row by row; Rejected with every problem. Writes
    nothing: the import runs in a savepoint that is rolled back."""
    with transaction.atomic():
        result = _run(kind, text, name, actor)
        transaction.set_rollback(True)
    return result


@transaction.atomic
def file_import(*, kind: str, text: str, name: str, actor) -> ImportResult:
    """Import the file for real, all or nothing, as its command would."""
    return _run(kind, text, name, actor)
