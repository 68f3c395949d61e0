"""Demo VIP plan (owned by the memberships/billing work)."""

from .models import MembershipPlan

VIP_PERKS = "\n".join(
    [
        "Weekly 10-minute VIP session (members only)",
        "Exclusive SKUs at member prices",
        "A credit towards next week for a VIP session you miss",
    ]
)


def demo_plan_seed():
    """The demo's weekly VIP plan (MembershipPlan "vip-weekly", 4.99 USD per week, 3 grace days), created once;
    returns it. Joined on /members/ (manual provider: a labelled demo, no payment)."""
    plan, _ = MembershipPlan.objects.get_or_create(
        slug="vip-weekly",
        defaults={
            "name": "VIP Weekly",
            "interval": MembershipPlan.Interval.WEEK,
            "price_minor": 499,
            "currency": "USD",
            "perks": VIP_PERKS,
            "grace_days": 3,
        },
    )
    return plan
