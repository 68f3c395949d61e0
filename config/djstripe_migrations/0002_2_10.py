"""dj-stripe 0002_2_10, as shipped (loaded from the installed package; see __init__.py)."""

from config.djstripe_migrations import shipped

Migration = shipped("0002_2_10")
