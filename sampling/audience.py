"""Audience signals for targeting: who attended/watched, who clicked a drop, who bought, who follows a series.

Purchase signals come from commerce orders (read only). Attendance and drop
clicks belong to analytics, which is built separately; this module reads them
through a small interface and returns empty sets while analytics does not
provide it:

    # in the module named by settings.SAMPLING_AUDIENCE_MODULE (default "analytics.selectors")
    def audience_attendees(*, series_id: int | None) -> set[str]: ...
    def audience_drop_clickers(*, series_id: int | None) -> set[str]: ...

Each returns the *normalized* e-mails (commerce.identity.normalize_email) of
people who attended or watched a session (of that series; any series when
None), or clicked a drop in one. `audience_connected()` tells whether the
functions exist (the admin shows it next to the reach preview).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from commerce.models import Order

DEFAULT_AUDIENCE_MODULE = "analytics.selectors"
BOUGHT_STATUSES = (Order.Status.AWAITING_PAYMENT, Order.Status.PAID)


@dataclass(frozen=True)
class AudienceSignals:
    """What we know about one person (by normalized e-mail) for one campaign."""

    attended: bool = False
    clicked: bool = False
    bought_before: bool = False
    bought_in_series: bool = False
    follows_series: bool = False  # a confirmed follower of the campaign's series (any series when None)


def _analytics_function(name: str) -> Callable[..., set[str]] | None:
    module_name = getattr(settings, "SAMPLING_AUDIENCE_MODULE", DEFAULT_AUDIENCE_MODULE)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, name, None)


def audience_connected() -> bool:
    """True when analytics provides both signal functions."""
    return bool(_analytics_function("audience_attendees") and _analytics_function("audience_drop_clickers"))


def attendees(*, series_id: int | None) -> set[str]:
    """Normalized e-mails of people who attended or watched a session (empty set if analytics is absent)."""
    fn = _analytics_function("audience_attendees")
    return set(fn(series_id=series_id)) if fn else set()


def drop_clickers(*, series_id: int | None) -> set[str]:
    """Normalized e-mails of people who clicked a drop (empty set if analytics is absent)."""
    fn = _analytics_function("audience_drop_clickers")
    return set(fn(series_id=series_id)) if fn else set()


def _bought_orders() -> QuerySet[Order]:
    return Order.objects.filter(status__in=BOUGHT_STATUSES)


def buyers(*, series_id: int | None = None) -> set[str]:
    """Normalized e-mails with at least one confirmed or paid order (in the series' sessions if given)."""
    qs = _bought_orders()
    if series_id is not None:
        qs = qs.filter(session__series_id=series_id)
    return set(qs.values_list("customer__email_normalized", flat=True).distinct())


def followers(*, series_id: int | None) -> set[str]:
    """Normalized e-mails of confirmed followers of the series (of any series when None): sessions_app.cadence."""
    from sessions_app.models import SeriesFollower

    qs = SeriesFollower.objects.filter(status=SeriesFollower.Status.CONFIRMED)
    if series_id is not None:
        qs = qs.filter(series_id=series_id)
    return set(qs.values_list("email_normalized", flat=True).distinct())


def signals_for(*, email_normalized: str, series_id: int | None) -> AudienceSignals:
    """Every signal for one person. Shape: AudienceSignals(attended, clicked, bought_before, bought_in_series,
    follows_series)."""
    mine = _bought_orders().filter(customer__email_normalized=email_normalized)
    return AudienceSignals(
        attended=email_normalized in attendees(series_id=series_id),
        clicked=email_normalized in drop_clickers(series_id=series_id),
        bought_before=mine.exists(),
        bought_in_series=series_id is not None and mine.filter(session__series_id=series_id).exists(),
        follows_series=email_normalized in followers(series_id=series_id),
    )
