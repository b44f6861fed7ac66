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


def orders_document_from_csv(text: str, *, source: str = "file") -> tuple[dict, dict[str, int]]:
    """The orders file's JSON shape, and where each order and line came from: a map from
    a path such as `orders[0].lines[2]` to its CSV line number."""
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
        order = _order(row)
        if order_number not in orders:
            orders[order_number], first_line[order_number] = order, number
            origin[f"orders[{len(orders) - 1}]"] = number
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


def _order(row: dict) -> dict:
    accounts = [
        {"account_id": row[f"{prefix}_id"], "name": row.get(f"{prefix}_name", ""), "role": role}
        for role, prefix in _account_columns(row)
        if row.get(f"{prefix}_id")
    ]
    return {
        "order_number": row["order_number"],
        "language": row.get("language") or "en",
        "accounts": accounts,
        "emails": [email for email in re.split(r"[;,\s]+", row["emails"]) if email],
        "lines": [],
    }


def _head(order: dict) -> tuple:
    return (order["language"], order["accounts"], order["emails"])


def errors_with_csv_lines(errors: list[str], origin: dict[str, int]) -> list[str]:
    """Put the CSV line in front of each error that names an order or a line of one."""
    located = []
    for error in errors:
        path = re.match(r"orders\[\d+\](\.lines\[\d+\])?", error)
        line = origin.get(path.group(0)) if path else None
        located.append(f"line {line}: {error}" if line else error)
    return located
