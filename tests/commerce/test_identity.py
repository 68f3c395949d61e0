import pytest
from django.core.exceptions import ValidationError

from commerce.identity import normalize_email


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("  Ann@Example.COM ", "ann@example.com"),
        ("ann+live@example.com", "ann@example.com"),
        ("A.n.n+x@GoogleMail.com", "ann@gmail.com"),
        ("a.nn@example.com", "a.nn@example.com"),  # dots matter outside the documented providers
        ("ａｎｎ@example.com", "ann@example.com"),  # NFKC folds full-width letters
    ],
)
def test_normalize_email(raw, key):
    assert normalize_email(raw) == key


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@", "@b.com"])
def test_invalid_email(raw):
    with pytest.raises(ValidationError):
        normalize_email(raw)


def test_an_address_longer_than_254_after_nfkc_is_invalid():
    from commerce.identity import clean_email

    with pytest.raises(ValidationError):
        clean_email("\ufb03" * 100 + "@example.com")
