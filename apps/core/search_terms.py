"""What a person types into a search box, read as each kind of key it could be.

Every key is normalised the way it is stored, so that what is found does not depend on case or
on what surrounds it, as SSRNs and activation codes are (see codes.parse_code: case, spaces,
dashes, look-alikes):

- order numbers and Contact IDs in lower case, to meet an index on LOWER(column): the business
  system writes them in its own case;
- device serial numbers in upper case, as activations and legacy keys store them;
- Account IDs as their digits, spaces and dashes between them dropped;
- email addresses in lower case, to meet the indexes on LOWER(email).

Spaces, quotes, angle brackets, commas and semicolons around the text (a pasted
`<alice@example.com>,`) are no part of any key; a control character within it makes it no
key at all. A kind the text cannot be is None, and its
lookup is skipped.
"""

import re
from dataclasses import dataclass

from apps.core.codes import ParsedCode, parse_code
from apps.core.text import has_control_characters

# Shapes as loose as what is stored (the business system's own validators are stricter).
ORDER_NUMBER = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# A device serial number as printed on the label: letters, digits and . _ / -.
SERIAL_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{1,63}$")
ACCOUNT_ID = re.compile(r"^\d{4,20}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
CONTACT_ID_MAX = 32
_AROUND = " \t\r\n\"'<>,;"
_BETWEEN_DIGITS = re.compile(r"[\s-]")


@dataclass(frozen=True)
class SearchTerm:
    text: str  # as typed, without what surrounds it
    code: ParsedCode  # an SSRN or activation code, if it is one
    order_number: str | None
    serial_number: str | None
    account_id: str | None
    contact_id: str | None
    email: str | None


def search_term_parse(text: str) -> SearchTerm:
    """Read a typed search term as every kind of key it could be, each normalised."""
    text = text.strip(_AROUND)
    if has_control_characters(text):
        text = ""  # no key holds one, and PostgreSQL refuses a NUL even in a query
    lower, upper = text.lower(), text.upper()
    digits = _BETWEEN_DIGITS.sub("", text)
    email = lower if EMAIL.match(lower) else None
    return SearchTerm(
        text=text,
        code=parse_code(text),
        order_number=lower if ORDER_NUMBER.match(lower) else None,
        serial_number=upper if SERIAL_NUMBER.match(upper) else None,
        account_id=digits if ACCOUNT_ID.match(digits) else None,
        contact_id=lower if text and len(text) <= CONTACT_ID_MAX and not email else None,
        email=email,
    )
