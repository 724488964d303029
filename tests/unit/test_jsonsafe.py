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
