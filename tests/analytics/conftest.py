"""Analytics fixtures: run on_commit callbacks, and drive the buffer → events → rollups pipeline."""

from __future__ import annotations

import pytest

from analytics import services


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): …` runs the block's on_commit callbacks as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def process():
    """Flush the buffer and update rollups, as the scheduled tasks do."""

    def run():
        moved = services.events_flush_all()
        services.rollups_update()
        return moved

    return run
