"""The edge hot set: which clip objects an edge cache should keep for a long time.

Score of a clip object on day `now` (docs/asset-costs.md, "Hot-set score"):

    score = Σ_{d = 0..6} views_d × 2^(−d / HALF_LIFE_DAYS)  +  REVENUE_WEIGHT × revenue

- views_d: clip page views of the object on the UTC day d days before `now` (AssetDelivery.views),
  so yesterday's views count more than last week's (exponential decay, half-life 2 days by
  default: a clip's views after a live session fall off within days, Mux/YouTube style "recent
  popularity"; setting ASSET_HOT_HALF_LIFE_DAYS);
- revenue: attributed revenue of the clip's drop (the drop funnel's revenue, analytics rollups),
  converted to the price currency's minor units with ASSET_FX (skipped when no rate);
  REVENUE_WEIGHT (ASSET_HOT_REVENUE_WEIGHT, default 0.01 views per minor unit: one sale of
  $10 weighs as 10 views) so a clip that sells stays at the edge even with fewer views.

The top 10 % (ASSET_HOT_FRACTION) of clip objects by score, rounded up, are hot — at least one
when any clip has a positive score; objects scoring 0 are never hot. Changes go to the CDN seam
(prefetch newly hot, purge newly cold) through the outbox, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import AssetDelivery, AssetObject, Clip

WINDOW_DAYS = 7


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def asset_public_url(obj: AssetObject) -> str:
    """The object's public URL (STORAGE's asset_url when available, else /media/a/<sha256>.<ext>)."""
    try:
        from .delivery import asset_url  # STORAGE helper's

        url = asset_url(obj)
        if url:
            return url
    except ImportError:
        pass
    ext = f".{obj.extension}" if obj.extension else ""
    return f"{getattr(settings, 'ASSET_PUBLIC_PREFIX', '/media/a/')}{obj.sha256}{ext}"


def _drop_revenue_minor(drop_ids: set[int]) -> dict[int, Decimal]:
    """Attributed revenue per drop in the price currency's minor units (analytics rollups)."""
    from analytics.selectors import drop_kpis
    from commerce.money import MoneyError, minor_unit_exponent

    from .costs import CostError, fx_rate, price_table

    target = price_table()["currency"]
    out: dict[int, Decimal] = {}
    for drop_id in drop_ids:
        k = drop_kpis(drop_id=drop_id)
        if not k["revenue_minor"] or not k["currency"]:
            continue
        try:
            rate = fx_rate(k["currency"], target)
            shift = minor_unit_exponent(target) - minor_unit_exponent(k["currency"])
        except (CostError, MoneyError):
            continue
        out[drop_id] = Decimal(k["revenue_minor"]) * rate * Decimal(10) ** shift
    return out


def hot_set_scores(*, now: dt.datetime) -> dict[int, float]:
    """{asset_id: score} for every ready clip object (formula in the module docstring)."""
    half_life = _setting("ASSET_HOT_HALF_LIFE_DAYS", 2)
    weight = _setting("ASSET_HOT_REVENUE_WEIGHT", 0.01)
    today = now.astimezone(dt.UTC).date()
    clips = list(Clip.objects.filter(asset__isnull=False).values_list("asset_id", "drop_id"))
    scores: dict[int, float] = dict.fromkeys((a for a, _ in clips), 0.0)
    for asset_id, day, views in AssetDelivery.objects.filter(
        asset_id__in=scores.keys(), day__gt=today - dt.timedelta(days=WINDOW_DAYS), day__lte=today
    ).values_list("asset_id", "day", "views"):
        scores[asset_id] += views * 2 ** (-((today - day).days) / half_life)
    revenue = _drop_revenue_minor({d for _, d in clips if d})
    drops_per_asset: dict[int, set[int]] = defaultdict(set)
    for asset_id, drop_id in clips:
        if drop_id:
            drops_per_asset[asset_id].add(drop_id)
    for asset_id, drops in drops_per_asset.items():
        scores[asset_id] += weight * float(sum(revenue.get(d, 0) for d in drops))
    return scores


def hot_set_rank(*, now: dt.datetime | None = None) -> dict:
    """Score every clip object, mark the top ASSET_HOT_FRACTION hot and the rest cold.

    Returns {"ranked": n objects, "hot": n hot, "made_hot": [ids], "made_cold": [ids]}. The flag
    changes and the CDN calls (outbox kind `asset.cdn`: prefetch newly hot, purge newly cold URLs)
    commit together; serving reads only `obj.hot` for its Cache-Control.
    """
    from commerce.services.outbox import outbox_enqueue

    now = now or timezone.now()
    scores = hot_set_scores(now=now)
    fraction = _setting("ASSET_HOT_FRACTION", 0.10)
    positive = sorted((s, a) for a, s in scores.items() if s > 0)
    n_hot = min(max(math.ceil(fraction * len(scores)), 1), len(positive)) if positive else 0
    hot = {a for _, a in sorted(positive, key=lambda t: (-t[0], t[1]))[:n_hot]}
    with transaction.atomic():
        objs = list(AssetObject.objects.select_for_update().filter(pk__in=scores.keys()).order_by("pk"))
        made_hot, made_cold = [], []
        for obj in objs:
            is_hot = obj.pk in hot
            if is_hot and not obj.hot:
                made_hot.append(obj)
            elif obj.hot and not is_hot:
                made_cold.append(obj)
            obj.hot, obj.hot_score = is_hot, scores[obj.pk]
            obj.hot_since = (obj.hot_since or now) if is_hot else None
        AssetObject.objects.bulk_update(objs, ["hot", "hot_score", "hot_since"])
        if made_hot or made_cold:
            outbox_enqueue(
                kind="asset.cdn",
                key=f"hotset:{now.isoformat()}:{len(made_hot)}:{len(made_cold)}",
                payload={
                    "prefetch": [asset_public_url(o) for o in made_hot],
                    "purge": [asset_public_url(o) for o in made_cold],
                },
            )
    return {
        "ranked": len(scores),
        "hot": len(hot),
        "made_hot": [o.pk for o in made_hot],
        "made_cold": [o.pk for o in made_cold],
    }
