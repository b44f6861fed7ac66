import math
import random

import pytest

from apps.core import codes
from apps.core.codes import ALPHABET, CodeKind, parse_code


def _symbols(code: str) -> str:
    return code.replace("-", "")


def test_a_hundred_thousand_codes_never_collide():
    activation_codes = {codes.new_activation_code() for _ in range(100_000)}
    ssrns = {codes.new_ssrn() for _ in range(100_000)}

    assert len(activation_codes) == 100_000
    assert len(ssrns) == 100_000


def test_activation_codes_carry_at_least_120_random_bits():
    random_symbols = codes.ACTIVATION_CODE_SYMBOLS - 1  # the last symbol is the check

    assert random_symbols * math.log2(len(ALPHABET)) >= 120


def test_codes_are_grouped_for_reading_and_avoid_look_alikes():
    code = codes.new_activation_code()
    ssrn = codes.new_ssrn()

    assert [len(group) for group in code.split("-")] == [4] * 7
    assert [len(group) for group in ssrn.split("-")] == [4] * 3
    assert not set(_symbols(code) + _symbols(ssrn)) & set("ILOUZ")


@pytest.mark.parametrize("make", [codes.new_activation_code, codes.new_ssrn])
def test_the_check_symbol_catches_every_single_substitution(make):
    for _ in range(20):
        symbols = _symbols(make())
        for position, original in enumerate(symbols):
            for other in ALPHABET:
                if other == original:
                    continue
                typo = symbols[:position] + other + symbols[position + 1 :]
                parsed = parse_code(typo)
                assert parsed.mistyped, f"{typo} (from {symbols}) passed the check"


@pytest.mark.parametrize("make", [codes.new_activation_code, codes.new_ssrn])
def test_the_check_symbol_catches_every_adjacent_transposition(make):
    for _ in range(200):
        symbols = _symbols(make())
        for position in range(len(symbols) - 1):
            a, b = symbols[position], symbols[position + 1]
            if a == b:
                continue
            swapped = symbols[:position] + b + a + symbols[position + 2 :]
            assert parse_code(swapped).mistyped, f"{swapped} (from {symbols}) passed the check"


def test_a_typed_code_is_normalised_for_case_spaces_dashes_and_look_alikes():
    code = codes.new_activation_code()
    typed = code.lower().replace("-", " ").replace("1", "l").replace("0", "o").replace("v", "u")

    parsed = parse_code(f"  {typed}\n")

    assert parsed.is_valid
    assert parsed.kind == CodeKind.ACTIVATION_CODE
    assert parsed.value == code


def test_a_mistyped_code_is_told_apart_from_text_that_is_no_code():
    ssrn = codes.new_ssrn()
    symbols = _symbols(ssrn)
    wrong = random.choice([s for s in ALPHABET if s != symbols[3]])
    mistyped = symbols[:3] + wrong + symbols[4:]

    assert parse_code(ssrn).is_valid
    assert parse_code(mistyped).kind == CodeKind.SSRN and parse_code(mistyped).mistyped
    assert parse_code("hello world").kind is None
    assert parse_code(symbols[:-1]).kind is None
    assert parse_code("").kind is None
