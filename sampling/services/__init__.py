"""Sampling services: the only code that changes sampling state. One module per sub-domain.

campaigns.py (create, resize, offer the waitlist), requests.py (micro-form,
address step, status flow with audit rows), shipping.py (3PL CSV export and
tracking import), followup.py (follow-up offers; the seam to commerce).
"""
