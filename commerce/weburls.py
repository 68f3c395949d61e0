"""URLs that may end up in a page's `src`/`href`: absolute http(s) only.

A catalog file (or an admin form) is untrusted input: `javascript:`, `data:`, `vbscript:`,
`file:` and relative or malformed URLs are refused where they come in (a per-row error in the
catalog import report, a form error in the admin) and skipped where they are read
(`Product.image_url`), so rows written before this check never reach a template.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

WEB_URL_SCHEMES = ("http", "https")
WEB_URL_MAX_LENGTH = 1000

_validator = URLValidator(schemes=list(WEB_URL_SCHEMES))


def web_url_problem(url: str) -> str | None:
    """Why `url` is not an absolute http(s) URL (None when it is one)."""
    if not isinstance(url, str) or not url:
        return "is empty"
    shown = url if len(url) <= 60 else url[:57] + "..."
    if len(url) > WEB_URL_MAX_LENGTH:
        return f"{shown!r} is longer than {WEB_URL_MAX_LENGTH} characters"
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme not in WEB_URL_SCHEMES:
        return f"{shown!r} is not an http(s) URL (only http:// and https:// are allowed)"
    try:
        _validator(url)
    except ValidationError:
        return f"{shown!r} is not a valid http(s) URL"
    return None


def is_web_url(url: str) -> bool:
    return web_url_problem(url) is None


def validate_web_url(value: str) -> None:
    """Model/form field validator: absolute http(s) URL."""
    if value and (problem := web_url_problem(value)):
        raise ValidationError(f"The URL {problem}.", code="invalid_url")
