"""Bounded JSON decoding: the nesting bound holds whether or not the brace count pre-check
lets the decoded value go unwalked."""

from __future__ import annotations

import json

import pytest

from cievents import jsonsafe
from cievents.errors import ValidationError


def nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


@pytest.mark.parametrize("as_bytes", [False, True])
def test_nesting_at_the_bound_is_accepted_and_one_deeper_refused(as_bytes: bool) -> None:
    ok, deep = nested(jsonsafe.MAX_DEPTH), nested(jsonsafe.MAX_DEPTH + 1)
    assert jsonsafe.loads(ok.encode() if as_bytes else ok) is not None
    with pytest.raises(ValidationError) as refused:
        jsonsafe.loads(deep.encode() if as_bytes else deep)
    assert refused.value.reason == "too_deep"


def test_braces_inside_strings_are_no_nesting() -> None:
    # More than MAX_DEPTH braces, all quoted: the count says "maybe", the walk says no.
    body = {"message": "{[" * 500, "build": {"jobs": [{"id": n} for n in range(200)]}}
    assert jsonsafe.loads(json.dumps(body)) == body


def test_long_numbers_and_constants_are_refused() -> None:
    with pytest.raises(ValidationError) as long_number:
        jsonsafe.loads('{"n": ' + "7" * (jsonsafe.MAX_NUMBER_CHARS + 1) + "}")
    assert long_number.value.reason == "number_too_long"
    with pytest.raises(ValidationError) as constant:
        jsonsafe.loads('{"n": NaN}')
    assert constant.value.reason == "bad_json"


@pytest.mark.parametrize("as_bytes", [False, True])
def test_the_bracket_precheck_says_maybe_exactly_past_the_bound(as_bytes: bool) -> None:
    # The pre-check finds brackets one by one and stops past MAX_DEPTH: it must agree with
    # counting them all, whatever the mix of braces and brackets and wherever they are.
    bound = jsonsafe.MAX_DEPTH
    for braces in (0, 1, bound // 2, bound, bound + 1):
        for brackets in (0, 1, bound - braces, bound + 1 - braces):
            if brackets < 0:
                continue
            text = "x" * 7 + "{" * braces + " lorem " * 3 + "[" * brackets + "y"
            data: str | bytes = text.encode() if as_bytes else text
            expected = braces + brackets > bound
            assert jsonsafe._may_nest_deeper(data) is expected, (braces, brackets)
