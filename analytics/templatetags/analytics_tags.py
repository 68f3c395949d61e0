"""Dashboard cell formatting: ratios as percentages, money in its currency, heat-map shading."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from commerce.money import MoneyError, format_money

register = template.Library()


def cell_text(row: dict, key: str, kind: str) -> str:
    value = row.get(key)
    if value is None or value == "":
        return "–"
    if kind in ("ratio", "heat"):
        return f"{value * 100:.1f} %"
    if kind == "money":
        try:
            return format_money(int(value), row.get("currency") or "USD")
        except (MoneyError, ValueError):
            return str(value)
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float":
        return f"{value:,.2f}"
    return str(value)


@register.simple_tag
def cell(row: dict, key: str, kind: str, heat: bool = False):
    """One <td>: formatted value; heat cells shaded by their 0..1 value."""
    text = cell_text(row, key, kind)
    if kind == "link":
        label, url = row.get(key) or ("", "")
        return format_html('<td><a href="{}">{}</a></td>', url, label)
    if kind == "heat" and row.get(key) is not None:
        alpha = min(max(float(row[key]), 0.0), 1.0)
        return format_html(
            '<td class="num" style="background: rgba(32, 113, 181, {}); color: {}">{}</td>',
            f"{0.08 + 0.92 * alpha:.2f}",
            "#fff" if alpha > 0.45 else "inherit",
            text,
        )
    css = "" if kind == "text" else "num"
    return format_html('<td class="{}">{}</td>', css, text)
