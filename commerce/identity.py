"""E-mail normalization: the one place that decides when two addresses are one person.

Rules, applied in order:
1. Unicode NFKC, then trim whitespace; the whole address is case-folded
   (mailbox names are treated case-insensitively, as every major provider does).
2. Plus-addressing: `local+tag@domain` → `local@domain` for every domain.
3. Dots in the local part are ignored only for providers that ignore them:
   PROVIDERS_IGNORING_DOTS (Gmail and its googlemail.com alias).
4. Domain aliases: googlemail.com → gmail.com.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit; Customer.email's column
PROVIDERS_IGNORING_DOTS = frozenset({"gmail.com", "googlemail.com"})
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def clean_email(raw: str) -> str:
    """NFKC + trim + lower-case domain; raises ValidationError if not an address (or longer than 254 after NFKC)."""
    email = unicodedata.normalize("NFKC", raw or "").strip()
    if len(email) > MAX_EMAIL_LENGTH:  # NFKC can lengthen an address that was short enough as typed
        raise ValidationError("Enter a valid email address.")
    validate_email(email)
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_email(raw: str) -> str:
    """The identity key of an address (see module docstring). Raises ValidationError."""
    email = clean_email(raw).casefold()
    local, _, domain = email.rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in PROVIDERS_IGNORING_DOTS:
        local = local.replace(".", "")
    domain = DOMAIN_ALIASES.get(domain, domain)
    if not local:
        raise ValidationError("Enter a valid email address.")
    return f"{local}@{domain}"
