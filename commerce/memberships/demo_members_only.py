"""Demo members-only session with an exclusive SKU (owned by the members-only work)."""


def demo_members_only_seed(*, series, live, plan) -> list[str]:
    """Create the members-only session and its exclusive drop; returns lines for seed_demo to print."""
    return []
