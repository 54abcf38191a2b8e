"""Parsing query parameters: paging's fast path against the full parse."""

from hypothesis import given, settings
from hypothesis import strategies as st

_QUERY_PARTS = st.builds(
    lambda name, sep, value: name + sep + value,
    st.sampled_from(["limit", "offset", "week_key", "period", "LIMIT", ""]),
    st.sampled_from(["=", "", "=="]),
    st.text(alphabet="0123456789-;a%+ ²", max_size=18),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_QUERY_PARTS, max_size=4).map("&".join))
def test_plain_paging_agrees_with_the_full_parse(query):
    """paging's fast path answers only what the full parse would answer the same."""
    from aiohttp.test_utils import make_mocked_request

    from tondonate.api.errors import ApiError
    from tondonate.api.params import MAX_OFFSET, _plain_paging, query_int

    fast = _plain_paging(query, 20)
    if fast is None:
        return
    request = make_mocked_request("GET", "/api/leaderboard/all-time?" + query)
    try:
        full = (query_int(request, "limit", 20, 1, 100), query_int(request, "offset", 0, 0, MAX_OFFSET))
    except ApiError:
        full = "400"
    assert fast == full


def test_plain_paging_takes_the_usual_queries():
    from tondonate.api.params import _plain_paging

    assert _plain_paging("offset=40", 20) == (20, 40)
    assert _plain_paging("limit=5&offset=10&week_key=2026-W48", 20) == (5, 10)
    assert _plain_paging("limit=50&offset=0", 20) == (50, 0)  # what the Mini App sends
    assert _plain_paging("limit=050&offset=9007199254740991", 20) == (50, 2**53 - 1)
    for query in (
        "offset=%34%30",
        "limit=0",
        "offset=1&offset=2",
        "offset=-1",
        "limit=1e2",
        "limit=101&offset=0",
        "limit=0&offset=0",
        "limit=50&offset=9007199254740992",
    ):
        assert _plain_paging(query, 20) is None  # the full parse decides
