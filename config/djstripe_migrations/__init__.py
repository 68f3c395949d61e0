"""dj-stripe's migrations as this project loads them (settings.MIGRATION_MODULES, docs/deployment.md).

Each shipped migration is re-exported from the installed dj-stripe package by a one-line module of
the same name (nothing of dj-stripe's is copied here, so an upgrade brings its migrations as they
are); beside them, one squash of 0001–0003 (`manage.py squashmigrations djstripe 0003`, with the
RemoveField operations folded into their CreateModel) that a fresh database applies in seconds
instead of minutes. A database that already ran the originals counts the squash as applied.
tests/test_djstripe_migrations.py fails when dj-stripe ships a migration without a module here.
"""

from __future__ import annotations

import importlib


def shipped(name: str) -> type:
    """The `Migration` class of dj-stripe's own migration `name` (e.g. "0002_2_10")."""
    return importlib.import_module(f"djstripe.migrations.{name}").Migration
