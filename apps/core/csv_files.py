"""Every CSV file Keyship reads or writes goes through here.

Reading: a file the csv module cannot read (a field past its size limit, a stray quote)
is Rejected with the file's name and line, as any other bad input, not an exception.

Writing: a cell that starts with = + - @ (or a tab or carriage return) is a formula to a
spreadsheet, which could fetch an address or run a command when the file is opened. Such a
text cell gets a leading ' (OWASP's advice on CSV injection), which spreadsheets read as
"this is text". Numbers are written as they are: a negative number is not a formula.
"""

import csv
import io

from django.utils.translation import gettext as _

from apps.core.contracts import Rejected

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_dict_rows(text: str, *, source: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header's names (stripped) and every row after it as (the line it starts on,
    {name: value}), as csv.DictReader gives them: values beyond the header's under None,
    missing ones None; empty lines skipped. Rejected, with the line, if the file cannot be
    read as CSV."""
    reader = csv.reader(io.StringIO(text))
    header, rows = None, []
    try:
        while True:
            start = reader.line_num + 1  # a quoted field may run over several lines
            values = next(reader, None)
            if values is None:
                break
            if not values:
                continue
            if header is None:
                header = [name.strip() for name in values]
                continue
            row = dict(zip(header, values[: len(header)], strict=False))
            row.update(dict.fromkeys(header[len(values) :]))
            if len(values) > len(header):
                row[None] = values[len(header) :]
            rows.append((start, row))
    except csv.Error as exc:
        raise Rejected([f"{source}: line {reader.line_num}: {_problem(exc)}"]) from None
    return header or [], rows


def _problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return _("a field is longer than %(limit)d characters") % {"limit": csv.field_size_limit()}
    return _("not valid CSV: %(problem)s") % {"problem": exc}


def csv_cell(value):
    """The value as a CSV cell that no spreadsheet runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvWriter:
    """csv.writer's writerow/writerows, each cell through csv_cell."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)
