"""Property-based tests of the one query parser every row uses (services/workload.py).

Whatever the query string, parse_params either returns every parameter of
the endpoint within its bounds or raises BadRequest (a 400): never another
exception, never an out-of-range value. Bounded: a few hundred examples each.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.endpoints import ENDPOINTS, Endpoint
from services.workload import BadRequest, parse_params

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WITH_PARAMS = [endpoint for endpoint in ENDPOINTS if endpoint.params]

endpoints = st.sampled_from(ENDPOINTS)
# Query-ish text: the characters that matter to parse_qsl, percent escapes, anything.
query_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="ms=n&;%0123456789-+._ eE", max_size=60),
    st.lists(st.sampled_from(["ms", "n", "x", "=", "&", ";", "%00", "%ff", "1", "-"])).map("".join),
)


def _assert_in_bounds(endpoint: Endpoint, values: dict[str, int]) -> None:
    assert set(values) == {param.name for param in endpoint.params}
    for param in endpoint.params:
        assert param.minimum <= values[param.name] <= param.maximum


@BOUNDED
@given(endpoint=endpoints, query=query_text)
def test_any_query_is_parsed_in_bounds_or_refused(endpoint: Endpoint, query: str) -> None:
    try:
        values = parse_params(endpoint, query)
    except BadRequest as error:
        refused = error
    else:
        _assert_in_bounds(endpoint, values)
        return
    assert refused.message  # the message the 400 body carries


@st.composite
def valid_queries(draw: st.DrawFn) -> tuple[Endpoint, dict[str, int]]:
    endpoint = draw(st.sampled_from(WITH_PARAMS))
    given_params = draw(st.lists(st.sampled_from(endpoint.params), unique=True))
    values = {p.name: draw(st.integers(p.minimum, p.maximum)) for p in given_params}
    return endpoint, values


@BOUNDED
@given(case=valid_queries())
def test_valid_values_come_back_exactly_with_defaults_for_the_rest(
    case: tuple[Endpoint, dict[str, int]],
) -> None:
    endpoint, values = case
    parsed = parse_params(endpoint, urlencode(values))
    assert parsed == {p.name: values.get(p.name, p.default) for p in endpoint.params}


@BOUNDED
@given(endpoint=st.sampled_from(WITH_PARAMS), value=st.integers())
def test_an_integer_outside_the_range_is_refused_naming_the_parameter(
    endpoint: Endpoint, value: int
) -> None:
    param = endpoint.params[0]
    query = f"{param.name}={value}"
    if param.minimum <= value <= param.maximum:
        assert parse_params(endpoint, query)[param.name] == value
        return
    with pytest.raises(BadRequest) as refused:
        parse_params(endpoint, query)
    assert refused.value.param == param.name
    assert refused.value.maximum == param.maximum


@BOUNDED
@given(endpoint=st.sampled_from(WITH_PARAMS), first=st.integers(0, 9), second=st.integers(0, 9))
def test_a_parameter_given_twice_is_refused_however_it_is_spelled(
    endpoint: Endpoint, first: int, second: int
) -> None:
    name = endpoint.params[0].name
    spelled = quote(name, safe="") if first % 2 else "".join(f"%{ord(c):02x}" for c in name)
    with pytest.raises(BadRequest, match="more than once"):
        parse_params(endpoint, f"{name}={first}&{spelled}={second}")


@BOUNDED
@given(endpoint=endpoints, name=st.text(min_size=1, max_size=20), value=st.text(max_size=10))
def test_a_parameter_the_endpoint_does_not_take_is_refused(
    endpoint: Endpoint, name: str, value: str
) -> None:
    known = {param.name for param in endpoint.params}
    if name in known:
        return  # a parameter it takes: the other properties cover its values
    # urlencode round-trips the name exactly, so it reaches the parser as given.
    with pytest.raises(BadRequest, match="unknown parameter") as refused:
        parse_params(endpoint, urlencode({name: value}))
    assert refused.value.param == name
