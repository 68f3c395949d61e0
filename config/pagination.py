"""The API's page-number pagination, bounded: `?page=` at most MAX_PAGE (422 `invalid` beyond).

ninja's own class takes any `page`, and `(page - 1) * page_size` then overflows the database's
OFFSET (a 500). This is the project's NINJA_PAGINATION_CLASS; use it with `@paginate(...)`.
`page_size` stays clamped to `max_page_size` (default 100) as before.
"""

from __future__ import annotations

from ninja import Field, Schema
from ninja.pagination import PageNumberPagination as NinjaPageNumberPagination

from .bounds import INT64_MAX

#: Far beyond any real list, small enough that page × page size never overflows an OFFSET.
MAX_PAGE = 1_000_000_000


class PageNumberPagination(NinjaPageNumberPagination):
    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE, description=f"1-based page number (at most {MAX_PAGE}).")
        page_size: int | None = Field(
            None, ge=1, le=INT64_MAX, description="Items per page; larger values are clamped to the maximum."
        )
