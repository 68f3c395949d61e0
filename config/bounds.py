"""Bounded integers for every way a number enters: URL paths, API parameters and bodies, pagination.

A 64-bit signed column holds at most 2**63 - 1; a bigger number in a lookup, an OFFSET or an INSERT
is a 500 on PostgreSQL (bigint out of range) and on SQLite (OverflowError). So:

- URLs use the `<id:…>` converter (registered in config/urls.py): digits up to 2**63 - 1, anything
  bigger does not match and answers 404 like any unknown object;
- API handlers and schemas type ids as `Id` (1 … 2**63 - 1) and other integers as `Int64`, so the
  OpenAPI schema states the range and a bigger value is a 422 `invalid` naming the field;
- lists paginate with config.pagination.PageNumberPagination (`page` ≤ MAX_PAGE, 422 beyond).
"""

from __future__ import annotations

from typing import Annotated

from django.urls import register_converter
from pydantic import Field, StrictInt

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

#: A database id: 1 … 2**63 - 1.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
#: The same, refusing "12" and 12.0 in JSON bodies.
StrictId = Annotated[StrictInt, Field(ge=1, le=INT64_MAX)]
#: Any integer a 64-bit column can hold.
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


class IdConverter:
    """`<id:name>`: 1–19 digits, at most 2**63 - 1 (a bigger number is a 404, never a 500)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > INT64_MAX:
            raise ValueError("out of range")  # the resolver tries the next pattern, then 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


# Registered when this module is first imported, which CommerceConfig.ready() does at start-up, so
# every URL pattern (config.urls, the apps' urls, the admin's get_urls) can use `<id:…>` whichever
# is built first.
register_converter(IdConverter, "id")
