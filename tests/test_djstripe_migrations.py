"""dj-stripe's migrations come from config/djstripe_migrations (settings.MIGRATION_MODULES): the shipped ones
(loaded from the installed package), plus one squash that a fresh database applies in seconds instead of minutes (docs/deployment.md)."""

from __future__ import annotations

import importlib
from pathlib import Path

import djstripe
import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader

SHIPPED = Path(djstripe.__file__).parent / "migrations"
OURS = Path(settings.BASE_DIR) / "config" / "djstripe_migrations"
SQUASH = "0001_squashed_0003_2_11"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("[0-9]*.py"))


def test_every_shipped_migration_is_loaded_from_dj_stripe_itself_so_an_upgrade_cannot_be_missed():
    # A dj-stripe upgrade that ships a new migration fails here: add its one-line module (and re-squash if wanted).
    assert settings.MIGRATION_MODULES["djstripe"] == "config.djstripe_migrations"
    for name in shipped_names():
        assert (OURS / f"{name}.py").exists(), f"add config/djstripe_migrations/{name}.py"
        ours = importlib.import_module(f"config.djstripe_migrations.{name}").Migration
        assert ours is importlib.import_module(f"djstripe.migrations.{name}").Migration, name


def test_the_squash_replaces_exactly_the_shipped_migrations():
    squash = importlib.import_module(f"config.djstripe_migrations.{SQUASH}").Migration
    assert sorted(name for _app, name in squash.replaces) == shipped_names()


@pytest.mark.django_db
def test_fresh_and_migrated_databases_both_end_on_the_squash():
    # fresh: nothing applied → the squash is applied; migrated with the originals → the squash counts as applied
    assert MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes("djstripe") == [("djstripe", SQUASH)]
    loader = MigrationLoader(connection)
    assert loader.graph.leaf_nodes("djstripe") == [("djstripe", SQUASH)]
    assert ("djstripe", SQUASH) in loader.applied_migrations
