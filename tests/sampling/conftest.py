import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def audience(settings):
    """Analytics signals fed by the test through the documented interface (sampling.audience)."""
    from tests.sampling import fake_audience

    settings.SAMPLING_AUDIENCE_MODULE = "tests.sampling.fake_audience"
    fake_audience.ATTENDEES.clear()
    fake_audience.CLICKERS.clear()
    yield fake_audience
    fake_audience.ATTENDEES.clear()
    fake_audience.CLICKERS.clear()
