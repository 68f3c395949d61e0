"""Demo VIP plan (owned by the memberships/billing work)."""


def demo_plan_seed():
    """The demo's weekly VIP plan (MembershipPlan), created once; returns it."""
    return None
