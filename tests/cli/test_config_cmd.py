"""`city-usage config` in a real process: values, sources, and secrets never printed."""

from __future__ import annotations

import json

from tests.cli_process import run_cli

SECRETS = {"STRIPE_SECRET_KEY": "sk_test_Zq9secretvalue77",
           "STRIPE_WEBHOOK_SECRET": "whsec_hushhush81",
           "AWS_SECRET_ACCESS_KEY": "aws/Secret+Key93",
           "BILLING_HOOK_SECRET": "hook-secret-55"}


def _rows(stdout: str) -> dict[str, tuple[str, str]]:
    return {row["name"]: (row["value"], row["source"]) for row in json.loads(stdout)}


def test_config_prints_values_and_sources_and_masks_every_secret(settings, tmp_path):
    settings.config_file.write_text(
        "exports:\n  billing:\n    sink: webhook\n    source: usage_daily_by_user\n"
        "    url: http://127.0.0.1:9/hook\n    secret_env: BILLING_HOOK_SECRET\n")
    env = {**SECRETS, "CITY_USAGE_TIMEZONE": "Europe/Paris", "CITY_USAGE_NOW": ""}
    table = run_cli("config", env=env, timeout=120)
    as_json = run_cli("config", "--format", "json", env=env, timeout=120)
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    for output in (table.stdout + table.stderr, as_json.stdout + as_json.stderr):
        for secret in SECRETS.values():
            assert secret not in output
            assert secret[:6] not in output  # not even a prefix
    rows = _rows(as_json.stdout)
    assert rows["CITY_USAGE_TIMEZONE"] == ("Europe/Paris", "env")
    assert rows["CITY_USAGE_DATA_DIR"] == (str(settings.data_dir), "env")
    assert rows["CITY_USAGE_WAREHOUSE"] == (str(settings.data_dir / "warehouse.duckdb"),
                                            "default")
    assert rows["CITY_USAGE_LOCK_TIMEOUT_S"] == ("300", "default")
    assert rows["CITY_USAGE_NOW"] == ("the real time", "default")  # empty counts as unset
    assert rows["STRIPE_SECRET_KEY"] == ("(set, hidden)", "env")
    assert rows["AWS_SECRET_ACCESS_KEY"] == ("(set, hidden)", "env")
    assert rows["STRIPE_API_BASE"][1] == "default"
    assert rows["BILLING_HOOK_SECRET"] == ("(set, hidden)", "env (exports.billing.secret_env)")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VALUE", "SOURCE"]
    assert any(line.split()[:2] == ["CITY_USAGE_TIMEZONE", "Europe/Paris"] for line in lines)


def test_an_unset_secret_shows_unset(settings):
    done = run_cli("config", "--format", "json",
                   env={"STRIPE_SECRET_KEY": "", "STRIPE_WEBHOOK_SECRET": ""}, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    assert rows["STRIPE_SECRET_KEY"] == ("unset", "default")
    assert rows["STRIPE_WEBHOOK_SECRET"] == ("unset", "default")


def test_a_bad_variable_is_exit_2_and_one_line(settings):
    done = run_cli("config", env={"CITY_USAGE_LOCK_TIMEOUT_S": "soon"}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: CITY_USAGE_LOCK_TIMEOUT_S='soon': ")
    assert done.stdout == ""


def test_bad_format_is_exit_2(settings):
    done = run_cli("config", "--format", "xml", timeout=120)
    assert (done.returncode, done.stderr) == (2, "error: --format 'xml': expected table or "
                                                 "json\n")
