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

Currencies whose payment provider takes coarser steps than their minor unit (Stripe's
three-decimal currencies BHD, JOD, KWD, OMR, TND take only amounts ending in 0, i.e.
steps of 10 minor units: commerce.money.minor_step) are rounded **here and only here**:

* a computed unit price (step-down, step-up, pickup-slot adjustment) is rounded half-up
  to a multiple of the step (commerce.money.round_to_step);
* a discounted line is rounded half-up to a multiple of the step, and the discount is what
  is left: `discount = line − round_to_step(line − raw_discount)`. Example: 15 % off
  KWD 12.350 → raw discount 1.8525 → 1.853 half-up → line 10.497 → **10.500**, so the
  discount shown is KWD 1.850.

So the total on the page, the amount sent to Stripe and the stored total are the same
integer, and every line sent to Stripe is one it accepts. Other currencies are unchanged
(step 1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .money import percent_of, round_to_step


@dataclass(frozen=True)
class PriceQuote:
    """A unit price in minor units at a moment: `step` index and when it next changes (UTC or None)."""

    unit_price_minor: int
    currency: str
    step: int
    next_change_at: dt.datetime | None


def _step_down_price(drop, step: int) -> int:
    drop_by = percent_of(drop.price_minor, Decimal(step) * drop.step_percent)
    return max(int(drop.floor_price_minor), round_to_step(drop.price_minor - drop_by, drop.currency))


def _slot_adjusted(quote: PriceQuote, slot) -> PriceQuote:
    adjusted = quote.unit_price_minor + percent_of(quote.unit_price_minor, slot.price_adjust_percent)
    price = max(round_to_step(adjusted, quote.currency), 0)
    return PriceQuote(price, quote.currency, quote.step, quote.next_change_at)


def drop_price_quote(drop, *, now: dt.datetime, available: int | None = None, slot=None) -> PriceQuote:
    """The drop's unit price at `now`. `available` overrides drop.total_available (effective stock).

    Step-up sell-through = (quantity − units left) / quantity, units left counted over all stock shards.

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
        left = drop.total_available if available is None else available
        sold_pct = Decimal(drop.quantity - left) * 100 / Decimal(drop.quantity)
        step, price = 0, base
        for index, tier in enumerate(sorted(drop.step_up_tiers, key=lambda t: Decimal(str(t["sell_through"]))), 1):
            if sold_pct >= Decimal(str(tier["sell_through"])):
                step, price = index, round_to_step(base + percent_of(base, tier["percent"]), drop.currency)
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
                    "unit_price_minor": round_to_step(
                        drop.price_minor + percent_of(drop.price_minor, tier["percent"]), drop.currency
                    ),
                    "current": current.step == index,
                }
            )
    else:
        rows.append({"step": 0, "when": "throughout", "unit_price_minor": drop.price_minor, "current": True})
    return rows


def line_discount(*, coupon, unit_price_minor: int, quantity: int, currency: str) -> int:
    """Discount in minor units on one line (unit × quantity): percent half-up, or fixed capped at the line.

    The discounted line is then rounded to the currency's payable step (module docstring:
    KWD and the other three-decimal currencies end in 0); returns 0 ≤ discount ≤ line.
    """
    line_total = unit_price_minor * quantity
    if coupon.kind == coupon.Kind.PERCENT:
        raw = min(line_total, percent_of(line_total, coupon.percent_off))
    elif coupon.currency != currency:
        return 0
    else:
        raw = min(line_total, int(coupon.amount_off_minor))
    if raw == 0:
        return 0
    return min(max(line_total - round_to_step(line_total - raw, currency), 0), line_total)


def price_step_props(line) -> dict:
    """The price step that applied to an order line, for analytics and the admin.

    {"price_step": int | None, "list_price_minor": int | None, "unit_price_minor": int,
    "step_percent": str | None}: step_percent = (unit − list) / list × 100, two decimals,
    negative for a step-down (e.g. "-20.00"), None when the list price is unknown or 0.
    """
    percent = None
    if line.list_price_minor:
        change = Decimal(line.unit_price_minor - line.list_price_minor) * 100 / Decimal(line.list_price_minor)
        percent = str(change.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return {
        "price_step": line.price_step,
        "list_price_minor": line.list_price_minor,
        "unit_price_minor": line.unit_price_minor,
        "step_percent": percent,
    }


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
