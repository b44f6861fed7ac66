"""Sales orders as CSV, one row per order line, as many ERPs export them.

The order's own columns repeat on each of its rows and must agree. Accounts are given by
role: `end_customer_id` and `end_customer_name` (required), and optionally `partner_`,
`distributor_` and `sold_to_`. More partners or distributors take numbered columns:
`partner_2_id`, `partner_2_name`, `partner_3_id`... (in the order of their numbers).
`emails` holds the addresses separated by `;`.
"""

import re

from apps.core.contracts import Rejected
from apps.core.csv_files import csv_dict_rows
from apps.orders.models import AccountRole

ORDER_COLUMNS = ("order_number", "language", "emails")
LINE_COLUMNS = ("line_number", "sku", "quantity", "requested_ship_date", "renews_ssrn")
REQUIRED = ("order_number", "emails", "end_customer_id", "end_customer_name", *LINE_COLUMNS[:4])


# `partner_id`, `partner_2_id`...: the role, and the column pair's number (1 when unnumbered).
ACCOUNT_COLUMN = re.compile(rf"^({'|'.join(AccountRole.values)})(?:_(\d+))?_id$")


def orders_document_from_csv(
    text: str, *, source: str = "file"
) -> tuple[dict, dict[str, int | str]]:
    """The orders file's JSON shape, and where each order, line and account came from: a map
    from a path such as `orders[0].lines[2]` to its CSV line number, and from a path such as
    `orders[0].accounts[1]` to the prefix of its columns (`partner_2`)."""
    header, rows = csv_dict_rows(text, source=source)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise Rejected([f"line 1: the header lacks {', '.join(missing)}"])
    orders: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    origin: dict[str, int] = {}
    problems = []
    for number, row in rows:
        row = {key: (value or "").strip() for key, value in row.items() if key}
        order_number = row["order_number"]
        order, prefixes = _order(row)
        if order_number not in orders:
            orders[order_number], first_line[order_number] = order, number
            origin[f"orders[{len(orders) - 1}]"] = number
            for index, prefix in enumerate(prefixes):
                origin[f"orders[{len(orders) - 1}].accounts[{index}]"] = prefix
        elif _head(orders[order_number]) != _head(order):
            problems.append(
                f"line {number}: the order columns of {order_number} differ from line "
                f"{first_line[order_number]}"
            )
            continue
        lines = orders[order_number]["lines"]
        index = list(orders).index(order_number)
        origin[f"orders[{index}].lines[{len(lines)}]"] = number
        lines.append(
            {
                "line_number": row["line_number"],
                "sku": row["sku"],
                "quantity": row["quantity"],
                "requested_ship_date": row["requested_ship_date"],
                "renews_ssrn": row.get("renews_ssrn", ""),
            }
        )
    if problems:
        raise Rejected(problems)
    return {"orders": list(orders.values())}, origin


def _account_columns(row: dict) -> list[tuple[str, str]]:
    """(role, column prefix) of each account column pair, by role, then by number."""
    found = []
    for name in row:
        match = ACCOUNT_COLUMN.match(name)
        if match:
            role, number = match.group(1), int(match.group(2) or 1)
            found.append((AccountRole.values.index(role), number, role, name[: -len("_id")]))
    return [(role, prefix) for _, _, role, prefix in sorted(found)]


def _order(row: dict) -> tuple[dict, list[str]]:
    """The order of a row, and the column prefix of each of its accounts."""
    given = [(role, prefix) for role, prefix in _account_columns(row) if row.get(f"{prefix}_id")]
    accounts = [
        {"account_id": row[f"{prefix}_id"], "name": row.get(f"{prefix}_name", ""), "role": role}
        for role, prefix in given
    ]
    return {
        "order_number": row["order_number"],
        "language": row.get("language") or "en",
        "accounts": accounts,
        "emails": [email for email in re.split(r"[;,\s]+", row["emails"]) if email],
        "lines": [],
    }, [prefix for _, prefix in given]


def _head(order: dict) -> tuple:
    return (order["language"], order["accounts"], order["emails"])


ACCOUNT_ERROR = re.compile(r"(orders\[\d+\])\.accounts\[(\d+)\]\.(\w+): (.*)", re.DOTALL)


def errors_with_csv_lines(errors: list[str], origin: dict[str, int | str]) -> list[str]:
    """Put the CSV line in front of each error that names an order or a line of one; an
    error of an account names its column (`partner_2_id`), not its place in the JSON."""
    located = []
    for error in errors:
        path = re.match(r"orders\[\d+\](\.lines\[\d+\])?", error)
        line = origin.get(path.group(0)) if path else None
        if line:
            error = _account_columns_named(error, origin)
        located.append(f"line {line}: {error}" if line else error)
    return located


def _account_columns_named(error: str, origin: dict[str, int | str]) -> str:
    match = ACCOUNT_ERROR.fullmatch(error)
    if not match:
        return error
    order, index, field, message = match.groups()
    prefix = origin.get(f"{order}.accounts[{index}]")
    if not prefix:
        return error
    column = f"{prefix}_name" if field == "name" else f"{prefix}_id"

    def other(found: re.Match) -> str:
        named = origin.get(f"{order}.accounts[{found.group(1)}]")
        return f"column {named}_id" if named else found.group(0)

    return f"{column}: " + re.sub(r"accounts\[(\d+)\]", other, message)
