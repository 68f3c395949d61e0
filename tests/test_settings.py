"""Settings come from the environment; production variables pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

PROD_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 60 + "-not-a-real-secret-but-long-and-random-enough-QWERTY",
    "ALLOWED_HOSTS": "shop.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
    "DATABASE_URL": "sqlite:////tmp/mm-deploy-check.sqlite3",
    "EMAIL_URL": "smtp://user:pass@smtp.example.com:587?tls=1",
}


def _manage(*args, env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"TESTING", "DEBUG", "SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**base, **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_variables():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_collectstatic_builds_the_production_manifest(tmp_path):
    """Production serves hashed, compressed copies; a vendored file naming a missing one breaks the deploy."""
    result = _manage("collectstatic", "--noinput", env={**PROD_ENV, "STATIC_ROOT": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "vendor/chartjs/chart.umd.js" in manifest
    assert list(tmp_path.glob("vendor/chartjs/chart.umd.*.js.gz"))


def test_secret_key_is_required_when_debug_is_off():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_embedded_defaults():
    assert settings.USE_TZ is True
    assert settings.Q_CLUSTER.get("orm") == "default" or settings.Q_CLUSTER.get("redis")
