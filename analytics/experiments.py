"""Format experiments (reads only): compare arm B with arm A on C2P and revenue per viewer.

Arms: for a `formats` experiment, the non-cancelled sessions of format A and of format B; for a
`variants` experiment, the sessions assigned to variant A and B. Definitions (metrics.md §5):

* **C2P** per arm = Σ purchasers ÷ Σ checkouts over the arm's sessions (session-visits).
  Test: two-sided two-proportion z-test (statsmodels `proportions_ztest`); effect = p_B − p_A
  with a 95 % Newcombe (Wilson score) interval (`confint_proportions_2indep`). Large enough
  when both arms have at least the checkouts needed to detect `min_effect` (absolute) from
  p_A with α = 0.05 and power 0.8 (Cohen's h, `NormalIndPower`).
* **Revenue per viewer** = each viewer's revenue in the session (0 if they bought nothing),
  in the experiment's currency. Test: Welch's t-test (scipy `ttest_ind`, equal_var=False);
  effect = mean_B − mean_A with its 95 % Welch interval. Large enough when both arms have the
  viewers needed to detect a 10 % change of mean_A with α = 0.05 and power 0.8 (`TTestIndPower`).
"""

from __future__ import annotations

import math

from sessions_app.models import LiveSession

from .models import Experiment
from .selectors import _sessions_kpis, viewer_revenues

ALPHA = 0.05
POWER = 0.8


def experiment_arms(experiment: Experiment) -> dict[str, list[int]]:
    """Session ids per arm: {"A": [...], "B": [...]}."""
    if experiment.kind == Experiment.Kind.FORMATS:
        live = LiveSession.objects.exclude(status=LiveSession.Status.CANCELLED)
        return {
            "A": list(live.filter(format=experiment.format_a).values_list("pk", flat=True)),
            "B": list(live.filter(format=experiment.format_b).values_list("pk", flat=True)),
        }
    arms: dict[str, list[int]] = {"A": [], "B": []}
    for session_id, variant in experiment.assignments.values_list("session_id", "variant"):
        arms[variant].append(session_id)
    return arms


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def compare_proportions(*, x_a: int, n_a: int, x_b: int, n_b: int, min_effect: float) -> dict:
    """Two-proportion comparison of B vs A (rules in the module docstring)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

    out = {
        "a": {"successes": x_a, "trials": n_a, "rate": x_a / n_a if n_a else None},
        "b": {"successes": x_b, "trials": n_b, "rate": x_b / n_b if n_b else None},
        "effect": None,
        "ci": None,
        "p_value": None,
        "required_per_arm": None,
        "enough": False,
    }
    if not (n_a and n_b):
        return out
    p_a, p_b = x_a / n_a, x_b / n_b
    out["effect"] = p_b - p_a
    if 0 < x_a + x_b < n_a + n_b:
        _stat, p_value = proportions_ztest([x_b, x_a], [n_b, n_a])
        out["p_value"] = _finite(p_value)
    low, high = confint_proportions_2indep(x_b, n_b, x_a, n_a, compare="diff", method="newcomb", alpha=ALPHA)
    out["ci"] = [_finite(low), _finite(high)]
    target = p_a + min_effect if p_a + min_effect < 1 else p_a - min_effect
    target = min(max(target, 1e-6), 1 - 1e-6)
    h = abs(proportion_effectsize(target, p_a))
    if h > 0:
        required = NormalIndPower().solve_power(effect_size=h, alpha=ALPHA, power=POWER, ratio=1.0)
        out["required_per_arm"] = math.ceil(required)
        out["enough"] = min(n_a, n_b) >= out["required_per_arm"]
    return out


def compare_means(*, a: list[int], b: list[int], relative_effect: float = 0.10) -> dict:
    """Welch comparison of the means of B vs A (rules in the module docstring)."""
    import numpy as np
    from scipy import stats
    from statsmodels.stats.power import TTestIndPower

    out = {
        "a": {"n": len(a), "mean": float(np.mean(a)) if a else None},
        "b": {"n": len(b), "mean": float(np.mean(b)) if b else None},
        "effect": None,
        "ci": None,
        "p_value": None,
        "required_per_arm": None,
        "enough": False,
    }
    if len(a) < 2 or len(b) < 2:
        return out
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out["effect"] = float(xb.mean() - xa.mean())
    if xa.var(ddof=1) + xb.var(ddof=1) > 0:
        res = stats.ttest_ind(xb, xa, equal_var=False)
        ci = res.confidence_interval(confidence_level=1 - ALPHA)
        out["p_value"], out["ci"] = _finite(res.pvalue), [_finite(ci.low), _finite(ci.high)]
        pooled = math.sqrt((xa.var(ddof=1) + xb.var(ddof=1)) / 2)
        d = relative_effect * abs(xa.mean()) / pooled if pooled else 0
        if d > 0:
            required = TTestIndPower().solve_power(effect_size=d, alpha=ALPHA, power=POWER, ratio=1.0)
            out["required_per_arm"] = math.ceil(required)
            out["enough"] = min(len(a), len(b)) >= out["required_per_arm"]
    return out


def experiment_result(*, experiment_id: int) -> dict:
    """Both comparisons of an experiment: {"experiment", "arms": {A/B: kpis}, "c2p", "revenue_per_viewer"}."""
    experiment = Experiment.objects.select_related("format_a", "format_b").get(pk=experiment_id)
    arms = experiment_arms(experiment)
    kpis = {arm: _sessions_kpis(LiveSession.objects.filter(pk__in=ids)) for arm, ids in arms.items()}
    c2p = compare_proportions(
        x_a=kpis["A"]["visitors"]["purchase"],
        n_a=kpis["A"]["visitors"]["checkout"],
        x_b=kpis["B"]["visitors"]["purchase"],
        n_b=kpis["B"]["visitors"]["checkout"],
        min_effect=experiment.min_effect,
    )
    rpv = compare_means(
        a=viewer_revenues(session_ids=arms["A"], currency=experiment.currency),
        b=viewer_revenues(session_ids=arms["B"], currency=experiment.currency),
    )
    return {
        "experiment": {
            "id": experiment.pk,
            "name": experiment.name,
            "kind": experiment.kind,
            "currency": experiment.currency,
        },
        "arms": {arm: {"sessions": len(arms[arm]), **kpis[arm]} for arm in arms},
        "c2p": c2p,
        "revenue_per_viewer": rpv,
    }
