"""Dynamic pricing and discounts: the one place that computes what a unit and a line cost.

Price schedules (per drop, `Drop.pricing`):

* **fixed**: `price_minor` throughout.
* **step_down**: every `step_seconds` after `opens_at` the price drops by
  `step_percent` % of the base price (linear, not compounding):
  `price_k = max(floor_price_minor, base − round_half_up(base × k × step_percent / 100))`
  for step k = ⌊(now − opens_at) / step_seconds⌋.
* **step_up**: `step_up_tiers` = [{"sell_through": 50, "percent": 10}, …]; once
  the share of units sold or held reaches a tier's `sell_through` (percent of
  `quantity`), the price is `base + round_half_up(base × percent / 100)` (the
  highest tier reached applies).

Pickup slots: a pickup-bound unit may be priced per slot. When a quote is
asked for a `slot` (commerce.models.PickupSlot) its `price_adjust_percent` is
applied on top of the schedule's price: `price + round_half_up(price × pct / 100)`
(negative = cheaper; later slots can clear a short run), never below zero.

The price shown, the price locked into a hold and the price charged all come
from `drop_price_quote`; a hold keeps its price only while it lives.

Discounts (`line_discount`) are computed **per line, half-up** through
commerce.money.percent_of; a fixed-amount coupon takes at most the line total.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from .money import percent_of


@dataclass(frozen=True)
class PriceQuote:
    """A unit price in minor units at a moment: `step` index and when it next changes (UTC or None)."""

    unit_price_minor: int
    currency: str
    step: int
    next_change_at: dt.datetime | None


def _step_down_price(drop, step: int) -> int:
    drop_by = percent_of(drop.price_minor, Decimal(step) * drop.step_percent)
    return max(int(drop.floor_price_minor), drop.price_minor - drop_by)


def _slot_adjusted(quote: PriceQuote, slot) -> PriceQuote:
    price = max(quote.unit_price_minor + percent_of(quote.unit_price_minor, slot.price_adjust_percent), 0)
    return PriceQuote(price, quote.currency, quote.step, quote.next_change_at)


def drop_price_quote(drop, *, now: dt.datetime, available: int | None = None, slot=None) -> PriceQuote:
    """The drop's unit price at `now`. `available` overrides drop.available (effective stock).

    With a pickup `slot`, the slot's price adjustment is applied (module docstring).
    """
    if slot is not None and slot.price_adjust_percent:
        return _slot_adjusted(drop_price_quote(drop, now=now, available=available), slot)
    base = drop.price_minor
    if drop.pricing == drop.Pricing.STEP_DOWN and drop.step_seconds and drop.step_percent:
        elapsed = max((now - drop.opens_at).total_seconds(), 0)
        step = int(elapsed // drop.step_seconds)
        price = _step_down_price(drop, step)
        at_floor = price <= int(drop.floor_price_minor)
        next_change = None if at_floor else drop.opens_at + dt.timedelta(seconds=(step + 1) * drop.step_seconds)
        if next_change and next_change >= drop.closes_at:
            next_change = None
        return PriceQuote(price, drop.currency, step, next_change)
    if drop.pricing == drop.Pricing.STEP_UP and drop.step_up_tiers and drop.quantity:
        left = drop.available if available is None else available
        sold_pct = Decimal(drop.quantity - left) * 100 / Decimal(drop.quantity)
        step, price = 0, base
        for index, tier in enumerate(sorted(drop.step_up_tiers, key=lambda t: Decimal(str(t["sell_through"]))), 1):
            if sold_pct >= Decimal(str(tier["sell_through"])):
                step, price = index, base + percent_of(base, tier["percent"])
        return PriceQuote(price, drop.currency, step, None)
    return PriceQuote(base, drop.currency, 0, None)


def price_schedule_table(drop, *, now: dt.datetime, available: int | None = None) -> list[dict]:
    """Rows for the admin: [{"step", "when", "unit_price_minor", "current"}], `when` human text."""
    current = drop_price_quote(drop, now=now, available=available)
    rows: list[dict] = []
    if drop.pricing == drop.Pricing.STEP_DOWN and drop.step_seconds and drop.step_percent:
        step = 0
        while True:
            starts = drop.opens_at + dt.timedelta(seconds=step * drop.step_seconds)
            if starts >= drop.closes_at:
                break
            price = _step_down_price(drop, step)
            rows.append({"step": step, "when": starts, "unit_price_minor": price, "current": step == current.step})
            if price <= int(drop.floor_price_minor) or step > 500:
                break
            step += 1
        if rows and not any(r["current"] for r in rows):
            rows[-1]["current"] = current.step >= rows[-1]["step"]
    elif drop.pricing == drop.Pricing.STEP_UP:
        rows.append(
            {"step": 0, "when": "from the start", "unit_price_minor": drop.price_minor, "current": current.step == 0}
        )
        tiers = sorted(drop.step_up_tiers, key=lambda t: Decimal(str(t["sell_through"])))
        for index, tier in enumerate(tiers, 1):
            rows.append(
                {
                    "step": index,
                    "when": f"≥ {tier['sell_through']}% sold or held",
                    "unit_price_minor": drop.price_minor + percent_of(drop.price_minor, tier["percent"]),
                    "current": current.step == index,
                }
            )
    else:
        rows.append({"step": 0, "when": "throughout", "unit_price_minor": drop.price_minor, "current": True})
    return rows


def line_discount(*, coupon, unit_price_minor: int, quantity: int, currency: str) -> int:
    """Discount in minor units on one line (unit × quantity): percent half-up, or fixed capped at the line."""
    line_total = unit_price_minor * quantity
    if coupon.kind == coupon.Kind.PERCENT:
        return min(line_total, percent_of(line_total, coupon.percent_off))
    if coupon.currency != currency:
        return 0
    return min(line_total, int(coupon.amount_off_minor))


def validate_tiers(tiers) -> list[dict]:
    """Check a step_up_tiers value; returns it normalized or raises ValueError."""
    if not isinstance(tiers, list):
        raise ValueError("tiers must be a list")
    out = []
    for tier in tiers:
        try:
            sell_through, percent = Decimal(str(tier["sell_through"])), Decimal(str(tier["percent"]))
            in_range = 0 < sell_through <= 100 and 0 < percent <= 1000
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError('each tier needs "sell_through" and "percent" numbers') from exc
        if not in_range:
            raise ValueError("sell_through must be in (0, 100] and percent in (0, 1000]")
        out.append({"sell_through": float(sell_through), "percent": float(percent)})
    return out
