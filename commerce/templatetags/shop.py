from django import template

from ..money import format_money

register = template.Library()


@register.simple_tag
def money(amount_minor, currency):
    """{% money drop.price_minor drop.currency %} → "$42.99"."""
    if amount_minor is None:
        return ""
    return format_money(int(amount_minor), currency)


@register.inclusion_tag("commerce/_product_picture.html")
def product_picture(sku, sizes="96px"):
    """{% product_picture drop.sku %} → the SKU's thumbnail (<img srcset>) or the static placeholder.

    `sizes` is the rendered width (CSS) so the browser picks the 160 px thumbnail on ordinary
    screens and the 480 px one on dense ones. Only ready images (thumbnails made) are shown.
    """
    from ..selectors import sku_picture

    image = sku_picture(sku=sku) if sku is not None else None
    items = image.srcset_items() if image is not None else []
    if not items:
        return {"srcset": ""}
    largest = max(image.thumbnails, key=lambda t: t["width"])
    return {
        "src": items[-1][0],
        "srcset": ", ".join(f"{url} {width}w" for url, width in items),
        "sizes": sizes,
        "width": largest["width"],
        "height": largest["height"],
        "alt": image.alt_text or sku.product.title,
    }
