"""dj-stripe 0003_2_11, as shipped (loaded from the installed package; see __init__.py)."""

from config.djstripe_migrations import shipped

Migration = shipped("0003_2_11")
