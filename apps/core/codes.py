"""SSRNs and activation codes: random, readable, and self-checking.

Both come from the operating system's CSPRNG and use a 31-symbol alphabet without
look-alikes (no I, L, O, U or Z; a typed I or L reads as 1, O as 0, U as V). The last
symbol is a check symbol: the sum of every symbol's value times its position (1, 2, ...)
is 0 modulo 31. As 31 is prime and a code has at most 30 symbols, every single-symbol
substitution and every swap of two adjacent symbols breaks the sum, so a mistyped code
is told apart from a well-formed code that does not exist.
"""

import secrets
from dataclasses import dataclass
from enum import StrEnum

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXY"
BASE = len(ALPHABET)  # 31, a prime: see the module docstring
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_LOOK_ALIKES = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})
_SEPARATORS = str.maketrans("", "", " -_.\t\r\n")

# An activation code is 27 random symbols (27 * log2(31) = 133.8 bits) plus the check
# symbol, shown in seven groups of four. An SSRN is 11 random symbols plus the check
# symbol, in three groups of four: it is a reference, not a secret.
ACTIVATION_CODE_SYMBOLS = 28
SSRN_SYMBOLS = 12
GROUP = 4


class CodeKind(StrEnum):
    ACTIVATION_CODE = "activation_code"
    SSRN = "ssrn"


_LENGTHS = {ACTIVATION_CODE_SYMBOLS: CodeKind.ACTIVATION_CODE, SSRN_SYMBOLS: CodeKind.SSRN}


def _check_symbol(payload: str) -> str:
    position = len(payload) + 1
    total = sum(_VALUE[symbol] * weight for weight, symbol in enumerate(payload, start=1))
    # Solve total + check * position == 0 (mod 31) for the check value.
    check = (-total * pow(position, -1, BASE)) % BASE
    return ALPHABET[check]


def _is_consistent(symbols: str) -> bool:
    return sum(_VALUE[s] * weight for weight, s in enumerate(symbols, start=1)) % BASE == 0


def _generate(length: int) -> str:
    payload = "".join(secrets.choice(ALPHABET) for _ in range(length - 1))
    return payload + _check_symbol(payload)


def format_code(symbols: str) -> str:
    """Group a code's symbols for reading: ABCD-EFGH-..."""
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def new_activation_code() -> str:
    """A new activation code in its grouped form. A secret: never log it."""
    return format_code(_generate(ACTIVATION_CODE_SYMBOLS))


def new_ssrn() -> str:
    """A new Software Support Reference Number in its grouped form."""
    return format_code(_generate(SSRN_SYMBOLS))


@dataclass(frozen=True)
class ParsedCode:
    """What a typed code turned out to be.

    `kind` is None when the text is not a code at all (wrong length or a symbol outside
    the alphabet); `mistyped` is True when it has a code's shape but its check fails.
    `value` is the canonical grouped form, to look the code up with.
    """

    kind: CodeKind | None
    value: str
    mistyped: bool

    @property
    def is_valid(self) -> bool:
        return self.kind is not None and not self.mistyped


def parse_code(text: str) -> ParsedCode:
    """Normalise a typed SSRN or activation code: case, spaces, dashes and look-alikes."""
    symbols = text.upper().translate(_SEPARATORS).translate(_LOOK_ALIKES)
    kind = _LENGTHS.get(len(symbols))
    if kind is None or any(symbol not in _VALUE for symbol in symbols):
        return ParsedCode(kind=None, value=symbols, mistyped=False)
    return ParsedCode(kind=kind, value=format_code(symbols), mistyped=not _is_consistent(symbols))
