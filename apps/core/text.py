"""Control characters in text that came from outside.

A control character in a name ends up in a subject line, a CSV cell or an admin page, where
a line break starts a new header and an escape sequence drives a terminal. Intake refuses
them (apps.core.contracts); this module says which they are, and folds them out of text
stored before intake refused them.
"""

import re

# C0 (with DEL) and C1, and the Unicode line and paragraph separators, which Python's
# str.splitlines() (and so some header and log handling) treats as line breaks too.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same but tab, LF and CR, which a multi-line text (a description) may hold.
CONTROL_CHARACTERS_BUT_LINE_BREAKS = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]"
)
_CONTROL_RUNS = re.compile(CONTROL_CHARACTERS.pattern + "+")


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    pattern = CONTROL_CHARACTERS_BUT_LINE_BREAKS if multiline else CONTROL_CHARACTERS
    return pattern.search(text) is not None


def single_line(text: str) -> str:
    """The text with each run of control characters (line breaks included) replaced by one
    space: safe for an email header, whatever was stored."""
    return _CONTROL_RUNS.sub(" ", text)


def escaped(text: str) -> str:
    """The text with each control character written as its escape (\\x1b, \\n): for a
    terminal or a log line, where the character itself would act."""
    return CONTROL_CHARACTERS.sub(
        lambda match: match.group().encode("unicode_escape").decode(), text
    )
