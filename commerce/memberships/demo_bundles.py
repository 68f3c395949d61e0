"""Demo community bundle and trial SKU (owned by the bundles/trials work)."""


def demo_bundles_seed(*, series, live) -> list[str]:
    """Create the bundle with private seats and the trial SKU's drop; returns lines for seed_demo to print."""
    return []
