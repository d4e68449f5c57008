import pytest

from flows.errors import BadReason
from flows.reasons import match_reason

# As the storefront's drop-down offers them (the real site's wording).
OFFERED = [
    "I ordered the wrong product(s)",
    "I placed a duplicate order",
    "I don't need this order",
    "Shipping takes too long",
    "I am not able to contact the supplier",
    "The supplier said the product(s) I want is out of stock",
    "The supplier refuses to ship the product(s)",
]


@pytest.mark.parametrize(
    "wanted, expected",
    [
        ("I ordered the wrong product(s)", "I ordered the wrong product(s)"),
        ("wrong", "I ordered the wrong product(s)"),
        ("DUPLICATE", "I placed a duplicate order"),
        ("i placed", "I placed a duplicate order"),
        ("shipping", "Shipping takes too long"),
        ("out of stock", "The supplier said the product(s) I want is out of stock"),
        ("  i don't need this order ", "I don't need this order"),
    ],
)
def test_a_word_or_prefix_picks_one_reason(wanted, expected):
    assert match_reason(wanted, OFFERED) == expected


def test_ambiguous_reason_lists_the_matches():
    with pytest.raises(BadReason, match="ambiguous") as err:
        match_reason("supplier", OFFERED)
    assert all(reason in str(err.value) for reason in OFFERED)
    assert err.value.offered == OFFERED


@pytest.mark.parametrize("wanted", ["because", "", "wro ng", "ordered wrong"])
def test_unknown_reason_lists_every_offered_reason(wanted):
    with pytest.raises(BadReason, match="unknown reason") as err:
        match_reason(wanted, OFFERED)
    assert all(reason in str(err.value) for reason in OFFERED)
