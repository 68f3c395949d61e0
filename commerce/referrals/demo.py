"""Demo share-to-unlock offer (owned by the share-to-unlock work)."""


def demo_share_seed(*, live) -> list[str]:
    """Create the share-to-unlock campaign on the live session; returns lines for seed_demo to print."""
    return []
