from django.conf import settings

from .payments import get_provider


def shop(request):
    """Shop-wide template context: name and the active payment provider's label."""
    provider = get_provider()
    return {"shop_name": settings.SHOP_NAME, "payment_provider": provider.name, "payment_label": provider.label}
