"""dj-stripe 0001_initial, as shipped (loaded from the installed package; see __init__.py)."""

from config.djstripe_migrations import shipped

Migration = shipped("0001_initial")
