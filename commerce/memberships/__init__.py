"""Retention loops (docs/memberships.md): membership plans and memberships on Stripe Billing (or the
`manual` provider), members-only sessions and SKUs, missed-session credits, community bundles (a SKU
with a seat in a private micro-session) and refundable trials.

Layout: models.py (imported by commerce.models), services_*.py (writes), selectors.py (reads),
identity.py (which membership a browser proves), views/api/admin modules per capability.
"""
