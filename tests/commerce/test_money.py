import pytest

from commerce.money import MoneyError, check_currency, format_money, minor_unit_exponent, percent_of, to_minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("42.99", "USD", 4299), ("55", "USD", 5500), ("1500", "JPY", 1500), ("1.234", "KWD", 1234), ("0.10", "eur", 10)],
)
def test_to_minor(text, currency, minor):
    assert to_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("", "USD"),
        ("1.999", "USD"),
        ("10.5", "JPY"),
        ("x", "USD"),
        ("-1", "USD"),
        ("NaN", "USD"),
        ("1e3", "USD"),
        ("Infinity", "USD"),
        ("1E-2", "USD"),
    ],
)
def test_to_minor_rejects(text, currency):
    with pytest.raises(MoneyError):
        to_minor(text, currency)


def test_currencies():
    assert (minor_unit_exponent("JPY"), minor_unit_exponent("USD"), minor_unit_exponent("KWD")) == (0, 2, 3)
    with pytest.raises(MoneyError):
        check_currency("ABC")
    with pytest.raises(MoneyError):
        check_currency("XXX")


def test_percent_rounds_half_up_per_line():
    assert percent_of(1999, 15) == 300  # 299.85 → 300
    assert percent_of(1000, "12.5") == 125
    assert percent_of(5, 10) == 1  # 0.5 → 1 (half-up)
    assert percent_of(4, 10) == 0


def test_format_money():
    assert format_money(4299, "USD") == "$42.99"
    assert format_money(1500, "JPY") == "¥1,500"
