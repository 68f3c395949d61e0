from django import template

from ..money import format_money

register = template.Library()


@register.simple_tag
def money(amount_minor, currency):
    """{% money drop.price_minor drop.currency %} → "$42.99"."""
    if amount_minor is None:
        return ""
    return format_money(int(amount_minor), currency)
