"""Format experiments: the statistics against hand-checked values, and arms from formats or variants."""

from __future__ import annotations

import math

import pytest

from analytics.experiments import compare_means, compare_proportions, experiment_result
from analytics.models import Experiment, ExperimentSession, FunnelActor, FunnelRollup
from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db


def test_two_proportion_test_matches_the_textbook_formula():
    # 30/200 vs 50/200: pooled z = (0.25 − 0.15) / sqrt(p(1−p)(2/200)) with p = 0.2
    result = compare_proportions(x_a=30, n_a=200, x_b=50, n_b=200, min_effect=0.05)
    z = 0.10 / math.sqrt(0.2 * 0.8 * (2 / 200))
    p_value = math.erfc(z / math.sqrt(2))
    assert result["effect"] == pytest.approx(0.10)
    assert result["p_value"] == pytest.approx(p_value, rel=1e-9)
    low, high = result["ci"]
    assert low < 0.10 < high
    assert low > 0  # significant: the interval excludes 0
    # detecting +5 points from 15 % needs ~ 906 per arm (Cohen's h, α .05, power .8)
    assert 880 <= result["required_per_arm"] <= 930
    assert result["enough"] is False
    assert compare_proportions(x_a=300, n_a=2000, x_b=500, n_b=2000, min_effect=0.05)["enough"] is True


def test_no_checkouts_yet_gives_no_verdict():
    result = compare_proportions(x_a=0, n_a=0, x_b=3, n_b=10, min_effect=0.05)
    assert result["effect"] is None
    assert result["enough"] is False


def test_welch_comparison_of_revenue_per_viewer():
    from scipy import stats

    a = [0] * 90 + [1000] * 10
    b = [0] * 80 + [1000] * 20
    result = compare_means(a=a, b=b)
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert result["effect"] == pytest.approx(100.0)
    assert result["p_value"] == pytest.approx(reference.pvalue)
    assert result["ci"][0] < 100 < result["ci"][1]
    assert result["required_per_arm"] > 100  # 10 % of a 100-cent mean is a small effect
    assert result["enough"] is False


def _session_with(viewers: int, checkouts: int, buyers: int, revenue_each: int):
    session = LiveSessionFactory()
    FunnelRollup.objects.create(
        session_id=session.pk,
        visitors_view=viewers,
        visitors_click=checkouts,
        visitors_cart=checkouts,
        visitors_checkout=checkouts,
        visitors_purchase=buyers,
        orders=buyers,
        revenue_minor=buyers * revenue_each,
        currency="USD",
    )
    FunnelActor.objects.bulk_create(
        [
            FunnelActor(
                session_id=session.pk,
                actor=f"v:{session.pk}-{i}",
                view_at=session.starts_at,
                revenue_minor=revenue_each if i < buyers else 0,
                currency="USD" if i < buyers else "",
            )
            for i in range(viewers)
        ]
    )
    return session


def test_variant_experiment_reads_the_assigned_sessions():
    a1, a2 = _session_with(100, 20, 4, 1000), _session_with(100, 20, 6, 1000)
    b1 = _session_with(100, 20, 12, 1000)
    experiment = Experiment.objects.create(name="countdown vs none", kind=Experiment.Kind.VARIANTS, currency="USD")
    ExperimentSession.objects.bulk_create(
        [ExperimentSession(experiment=experiment, session=s, variant=v) for s, v in ((a1, "A"), (a2, "A"), (b1, "B"))]
    )
    result = experiment_result(experiment_id=experiment.pk)
    assert (result["arms"]["A"]["sessions"], result["arms"]["B"]["sessions"]) == (2, 1)
    assert result["c2p"]["a"] == {"successes": 10, "trials": 40, "rate": 0.25}
    assert result["c2p"]["b"]["rate"] == 0.6
    assert result["revenue_per_viewer"]["a"] == {"n": 200, "mean": 50.0}
    assert result["revenue_per_viewer"]["b"]["mean"] == 120.0
