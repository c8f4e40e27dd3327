"""The one settings module: declared variables, one-line rejections, the README table."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from usage_model.config import BadSetting, Environment, Settings, variables

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk_live_do-not-print-4242"


def _readme_table() -> dict[str, tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            name, default, secret, description = (cell.strip("`") for cell in cells)
            rows[name] = (default, secret, description)
    return rows


def test_readme_table_lists_every_declared_variable_and_nothing_else():
    readme = _readme_table()
    model = {name: (default, "yes" if secret else "", description)
             for name, default, description, secret in variables()}
    assert sorted(readme) == sorted(model), "README table and Environment differ in names"
    for name, row in model.items():
        assert readme[name] == row, f"README row of {name} differs from the model"


def test_the_variables_the_review_found_missing_are_documented():
    readme = _readme_table()
    for name in ("CITY_USAGE_PARTITION_START", "CITY_USAGE_QUARANTINE_RATE_MAX",
                 "CITY_USAGE_LOCK_TIMEOUT_S", "STRIPE_SYNC_START", "CITY_USAGE_NOW",
                 "CITY_USAGE_FAULT_POINT", "AWS_SECRET_ACCESS_KEY"):
        assert name in readme


def test_defaults_need_no_environment(monkeypatch, tmp_path):
    for name, *_ in variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env()
    assert settings.data_dir == tmp_path / "data"
    assert settings.warehouse == tmp_path / "data" / "warehouse.duckdb"
    assert settings.usage_landing == tmp_path / "data" / "landing" / "usage"
    assert (settings.timezone, settings.partition_start) == ("UTC", "2024-01-01")
    assert settings.future_skew == timedelta(hours=24)
    env = Environment.load()
    assert env.dagster_home_path() == tmp_path / "data" / "dagster"
    assert env.s3_options() == {}
    funding = env.funding()
    assert funding.sync_start is None and funding.credits_per_minor == {"usd": 10000}


def test_environment_values_are_typed_and_empty_means_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITY_USAGE_WAREHOUSE", "")
    monkeypatch.setenv("CITY_USAGE_RECORD_ERRORS", "no")
    monkeypatch.setenv("CITY_USAGE_FUTURE_SKEW_HOURS", "1.5")
    monkeypatch.setenv("STRIPE_SYNC_START", "2026-01-01")
    monkeypatch.setenv("CITY_USAGE_CREDITS_PER_MINOR_UNIT", "eur=11000")
    settings = Settings.from_env()
    assert settings.warehouse == tmp_path / "warehouse.duckdb"
    assert settings.record_errors is False
    assert settings.future_skew == timedelta(minutes=90)
    funding = Environment.load().funding()
    assert funding.sync_start == 1767225600  # 2026-01-01T00:00:00Z
    assert funding.credits_per_minor == {"usd": 10000, "eur": 11000}


def test_s3_options_are_pyarrow_keywords_and_keep_the_secret_out_of_repr(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    env = Environment.load()
    assert env.s3_options() == {"endpoint_override": "127.0.0.1:9000", "scheme": "http",
                                "access_key": "minio", "secret_key": SECRET,
                                "region": "eu-west-1"}
    assert SECRET not in repr(env) and SECRET not in str(env.model_dump())
    import pyarrow.fs as pafs

    pafs.S3FileSystem(**env.s3_options())  # accepted as keyword arguments


def test_an_s3_curated_prefix_keeps_the_build_working_state_on_local_disk(monkeypatch, tmp_path):
    from usage_model.config import effective

    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path))
    local = Environment.load().settings()
    assert local.curated_uri is None and local.work_root == tmp_path / "curated"
    assert local.events_location().uri == str(tmp_path / "curated" / "events")

    monkeypatch.setenv("CITY_USAGE_CURATED", "s3://lake/city/curated/")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    remote = Environment.load().settings()
    assert remote.curated_uri == "s3://lake/city/curated/"
    assert remote.work_root == tmp_path / "work"
    events = remote.events_location()
    assert (events.is_local, events.root, events.uri) == (
        False, "lake/city/curated/events", "s3://lake/city/curated/events")
    with pytest.raises(ValueError, match="s3://lake/city/curated/, not in a local folder"):
        _ = remote.events_root
    shown = {name: value for name, value, _ in effective()}
    assert shown["CITY_USAGE_CURATED"] == "s3://lake/city/curated/"


def test_an_s3_landing_prefix_holds_the_usage_balance_and_stripe_event_landings(monkeypatch,
                                                                                tmp_path):
    from usage_model.config import effective

    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path))
    local = Environment.load().settings()
    assert local.stripe_events_location().uri == str(tmp_path / "landing" / "stripe" / "events")

    monkeypatch.setenv("CITY_USAGE_LANDING", "s3://lake/city/landing/")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    remote = Environment.load().settings()
    landings = [remote.usage_landing_location(), remote.balance_landing_location(),
                remote.stripe_events_location()]
    assert [(where.is_local, where.uri) for where in landings] == [
        (False, "s3://lake/city/landing/usage"), (False, "s3://lake/city/landing/balance"),
        (False, "s3://lake/city/landing/stripe/events")]
    assert remote.stripe_events_location().root == "lake/city/landing/stripe/events"
    shown = {name: value for name, value, _ in effective()}
    assert shown["CITY_USAGE_LANDING"] == "s3://lake/city/landing/"


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("CITY_USAGE_LOCK_TIMEOUT_S", "soon", "CITY_USAGE_LOCK_TIMEOUT_S='soon': Input should be a "
                                          "valid number"),
    ("CITY_USAGE_RECORD_ERRORS", "maybe", "CITY_USAGE_RECORD_ERRORS='maybe': Input should be a "
                                          "valid boolean"),
    ("CITY_USAGE_TIMEZONE", "Mars/Base", "CITY_USAGE_TIMEZONE='Mars/Base': not an IANA time "
                                         "zone"),
    ("CITY_USAGE_PARTITION_START", "2024-13-01", "CITY_USAGE_PARTITION_START='2024-13-01': "),
    ("STRIPE_SYNC_START", "soon", "STRIPE_SYNC_START='soon': expected an ISO date or unix "
                                  "seconds"),
    ("CITY_USAGE_CREDITS_PER_MINOR_UNIT", "eur=-1", "CITY_USAGE_CREDITS_PER_MINOR_UNIT='eur=-1':"
                                                    " credits-per-minor-unit 'eur=-1'"),
    ("CITY_USAGE_NOW", "yesterday", "CITY_USAGE_NOW='yesterday' is not an ISO-8601 instant"),
    ("CITY_USAGE_DUCKDB_MEMORY_LIMIT", "lots", "CITY_USAGE_DUCKDB_MEMORY_LIMIT='lots': expected a"
                                               " size such as 512MB or 2GB"),
])
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, value, problem):
    monkeypatch.setenv(name, value)
    with pytest.raises(BadSetting) as info:
        Environment.load()
    assert str(info.value).startswith(problem)
    assert "\n" not in str(info.value)


def test_nothing_reads_the_environment_at_import_time(tmp_path):
    """A broken variable does not stop the code location from importing; loading it fails."""
    code = ("import pipelines.definitions as d, assets.usage.definitions, assets.usage.partitions, "
            "usage_model.faults, usage_model.clock\n"
            "try:\n    d.city_usage()\nexcept Exception as exc:\n    print(type(exc).__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "CITY_USAGE_PARTITION_START": "bad",
                               "CITY_USAGE_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "BadSetting"


def test_no_module_outside_the_settings_module_reads_the_environment():
    pattern = re.compile(r"os\.environ|getenv|environ\[")
    readers = [str(path.relative_to(ROOT))
               for folder in ("usage_model", "assets", "pipelines")
               for path in (ROOT / folder).rglob("*.py")
               if pattern.search(path.read_text(encoding="utf-8"))]
    assert readers == ["usage_model/config.py"]


def test_resources_are_built_from_the_settings(monkeypatch, tmp_path):
    from pipelines.resources import build_resources

    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITY_USAGE_LOCK_TIMEOUT_S", "7.5")
    monkeypatch.setenv("STRIPE_SYNC_LOOKBACK_S", "60")
    resources = build_resources()
    assert resources["duckdb"].lock_timeout_s == 7.5
    assert resources["duckdb"].database == str(tmp_path / "warehouse.duckdb")
    assert resources["settings"].funding().lookback == timedelta(seconds=60)
    assert resources["settings"].get().curated == tmp_path / "curated"


def test_the_warehouse_connections_take_the_memory_limit(monkeypatch, tmp_path):
    from pipelines.resources import build_resources

    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path))
    with build_resources()["duckdb"].get_connection() as conn:
        unbounded = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    monkeypatch.setenv("CITY_USAGE_DUCKDB_MEMORY_LIMIT", "300MB")
    with build_resources()["duckdb"].get_connection() as conn:
        capped = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    # DuckDB reports the cap in binary units: 300 MB = 286.1 MiB.
    assert capped == "286.1 MiB"
    assert unbounded != capped


def test_the_steps_own_duckdbs_take_the_memory_limit_too(monkeypatch, tmp_path):
    from usage_model.warehouse import scratch_connection

    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITY_USAGE_DUCKDB_MEMORY_LIMIT", "300MB")
    settings = Settings.from_env()
    with scratch_connection(settings.duckdb_memory_limit) as conn:
        capped, spill = conn.execute("SELECT current_setting('memory_limit'), "
                                     "current_setting('temp_directory')").fetchone()
    assert capped == "286.1 MiB"  # 300 MB in DuckDB's binary units
    assert not spill.startswith(str(Path.cwd()))  # spills to the system's temporary folder
    monkeypatch.delenv("CITY_USAGE_DUCKDB_MEMORY_LIMIT")
    with scratch_connection(Settings.from_env().duckdb_memory_limit) as conn:
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone()[0] != capped


def test_partitions_follow_the_environment_when_definitions_load(monkeypatch):
    from assets.usage import definitions as usage_defs

    firsts = []
    for start in ("2025-03-01", "2025-04-02"):
        monkeypatch.setenv("CITY_USAGE_PARTITION_START", start)
        events = next(a for a in usage_defs.definitions().assets
                      if dg.AssetKey("usage_events") in getattr(a, "keys", ()))
        firsts.append(events.partitions_def.get_first_partition_key())
    assert firsts == ["2025-03-01", "2025-04-02"]
