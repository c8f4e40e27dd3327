"""city-usage.yaml validation: every rejection is one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from usage_model.hooks.config import ConfigError, load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(tmp_path: Path, text: str):
    path = tmp_path / "city-usage.yaml"
    path.write_text(text)
    return load_config(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'city-usage.yaml'}: ")
    return message


def test_absent_file_means_no_hooks_and_no_exports(tmp_path: Path) -> None:
    assert load_config(tmp_path / "missing.yaml") is None


def test_example_config_loads() -> None:
    config = load_config(EXAMPLES / "city-usage.example.yaml")
    assert set(config.exports) == {"daily_usage_files", "monthly_charges_webhook",
                                   "tokens_meter", "billing_sync"}
    assert config.pricing.hook_name == "per_model" and config.pricing.period == "month"
    meter = config.exports["tokens_meter"]
    assert meter.customer_map == {"u-0000": "cus_Example0000", "u-0001": "cus_Example0001"}
    assert config.exports["monthly_charges_webhook"].timeout_s == 10.0


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("prcing: {hook: per_call}\n", ": prcing: ", "unknown key"),
        ("exports: {a: {sink: files, source: usage_daily_by_user, colour: red}}\n",
         ": exports.a.colour: ", "unknown key"),
        ("exports: {a: {sink: ftp, source: usage_daily_by_user}}\n", ": exports.a.sink: ",
         "expected one of"),
        ("exports: {a: {source: usage_daily_by_user}}\n", ": exports.a.sink: ", "required"),
        ("exports: {a: {sink: files, source: events}}\n", ": exports.a.source: ",
         "expected one of"),
        ("exports: {a: {sink: files, source: usage_daily_by_user, period: week}}\n",
         ": exports.a.period: ", "expected one of"),
        ("exports: {a: {sink: webhook, source: usage_daily_by_user, url: 'http://x/h',"
         " secret_env: S, timeout_s: soon}}\n", ": exports.a.timeout_s: ", "expected a number"),
        ("exports: {a: {sink: webhook, source: usage_daily_by_user, url: 'ftp://x',"
         " secret_env: S}}\n", ": exports.a.url: ", "http(s) URL"),
        ("exports: {a: {sink: webhook, source: usage_daily_by_user, url: 'http://x/h',"
         " secret_env: 'sk live'}}\n", ": exports.a.secret_env: ", "NAME of an environment"),
        ("exports: {a: {sink: webhook, source: usage_daily_by_user, url: 'http://x/h',"
         " secret_env: S, max_attempts: 0}}\n", ": exports.a.max_attempts: ", "integer >= 1"),
        ("exports: {a: {sink: python, source: usage_daily_by_city, hook: 'no_such_pkg.m:f'}}\n",
         ": exports.a.hook: ", "cannot import 'no_such_pkg.m'"),
        ("exports: {a: {sink: python, source: usage_daily_by_city, hook: 'json:nope'}}\n",
         ": exports.a.hook: ", "no callable 'nope'"),
        ("exports: {a: {sink: files, source: charges}}\n", ": exports.a.source: ",
         "needs a 'pricing' section"),
        ("pricing: {hook: per_call, params: {credits_per_call: 5}}\n"
         "exports: {a: {sink: files, source: charges, period: day}}\n",
         ": exports.a.period: ", "built per month"),
        ("exports: {a-b: {sink: files, source: usage_daily_by_user}}\n", ": exports.a-b: ",
         "letters, digits"),
        ("exports: {a: {sink: stripe_meter_events, source: usage_daily_by_model,"
         " event_name: e, value: calls, customer_map: c.csv}}\n", ": exports.a.source: ",
         "per-user source"),
        ("exports: {a: {sink: stripe_meter_events, source: usage_daily_by_user,"
         " event_name: e, value: p95_latency_ms, customer_map: c.csv}}\n",
         ": exports.a.value: ", "integer measure"),
        ("exports: {a: {sink: stripe_meter_events, source: usage_daily_by_user,"
         " event_name: e, value: calls, customer_map: nowhere.csv}}\n",
         ": exports.a.customer_map: ", "file not found"),
        ("pricing: {hook: per_cal}\n", ": pricing.hook: ", "unknown built-in 'per_cal'"),
        ("pricing: {hook: per_call, params: {credits_per_call: -1}}\n",
         ": pricing.params.credits_per_call: ", "integer >= 0"),
        ("pricing: {hook: per_call, params: {credits_per_call: 1, colour: red}}\n",
         ": pricing.params.colour: ", "unknown key"),
        ("pricing: {hook: per_call, params: {credits_per_call: 1}, apply_to_balance: yes please}\n",
         ": pricing.apply_to_balance: ", "true or false"),
        ("pricing: {hook: included_overage, params: {included: 10, overage_credits: 0.1}}\n",
         ": pricing.params.overage_credits: ", "quoted text"),
        ("pricing: {hook: 'json:nope'}\n", ": pricing.hook: ", "no callable"),
        ("entitlements: {hook: plan_limits, params: {included: 10, limit: 5}}\n",
         ": entitlements.params.limit: ", "below included"),
        ("entitlements: {hook: plan_limits, params: {included: 10, overrides: {u1: {max: 3}}}}\n",
         ": entitlements.params.overrides.u1.max: ", "unknown key"),
        ("exports: [a, b]\n", ": exports: ", "expected a mapping"),
        ("[1, 2]\n", ": (top level): ", "expected a mapping"),
        ("pricing: 5\n", ": pricing: ", "expected a mapping, got 5"),
        ("exports: {a: 5}\n", ": exports.a: ", "expected a mapping, got 5"),
        ("exports: {a: {sink: files, source: usage_daily_by_user, name: b}}\n",
         ": exports.a.name: ", "unknown key (allowed: format, period, sink, source)"),
        ("exports: {a: {sink: files, source: usage_daily_by_user, format: xls}}\n",
         ": exports.a.format: ", "expected one of parquet, csv, jsonl, got 'xls'"),
        ("exports: {a: {sink: webhook, source: usage_daily_by_user, secret_env: S}}\n",
         ": exports.a.url: ", "required key is missing"),
        ("exports: {a: {sink: stripe_meter_events, source: usage_daily_by_user,"
         " event_name: '', value: calls, customer_map: c.csv}}\n",
         ": exports.a.event_name: ", "expected a non-empty string"),
        ("exports: {a: {sink: python, source: usage_daily_by_city, hook: 'not a ref'}}\n",
         ": exports.a.hook: ", "expected 'package.module:function'"),
        ("pricing: {hook: per_call, params: {credits_per_call: 1}, period: week}\n",
         ": pricing.period: ", "expected one of day, month, got 'week'"),
        ("pricing: {hook: per_call}\n", ": pricing.params.credits_per_call: ",
         "required key is missing"),
        ("pricing: {hook: per_call, params: {credits_per_call: 1, count: tokens}}\n",
         ": pricing.params.count: ", "expected one of success_calls, calls, got 'tokens'"),
        ("pricing: {hook: per_model, params: {prices: 5}}\n", ": pricing.params.prices: ",
         "expected the path of a price CSV"),
        ("pricing: {hook: per_model, params: {prices: none.csv}}\n",
         ": pricing.params.prices: ", "file not found"),
        ("pricing: {hook: quota_plan, params: {plan_credits: 1, included: true}}\n",
         ": pricing.params.included: ", "integer >= 0"),
        ("pricing: {hook: included_overage, params: {included: 1, overage_credits: '1',"
         " per_units: 0}}\n", ": pricing.params.per_units: ", "integer >= 1"),
        ("pricing: {hook: included_overage, params: {included: 1, overage_credits: abc}}\n",
         ": pricing.params.overage_credits: ", "expected a decimal number"),
        ("pricing: {hook: included_overage, params: {included: 1, overage_credits: '-1'}}\n",
         ": pricing.params.overage_credits: ", "decimal >= 0"),
        ("entitlements: {hook: plan_limits, params: {included: 10, overrides: {u1: {limit: 3}}}}"
         "\n", ": entitlements.params.overrides.u1.limit: ", "limit 3 is below included 10"),
        ("entitlements: {hook: plan_limits, params: {included: 10, overrides: {u1: {included: x}}}}"
         "\n", ": entitlements.params.overrides.u1.included: ", "integer >= 0, got 'x'"),
        ("entitlements: {hook: plan_limits, params: {included: 1, overrides: [u1]}}\n",
         ": entitlements.params.overrides: ", "expected a mapping"),
        ("entitlements: {hook: plan_limits, params: {included: 1, scope: planet}}\n",
         ": entitlements.params.scope: ", "expected one of user, city, got 'planet'"),
        ("exports: {a: {sink: files\n", ": line ", "not valid YAML"),
    ],
)
def test_each_rejection_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    message = _error(tmp_path, text)
    assert key in message
    assert words in message


def test_typed_options_reach_the_sinks(tmp_path: Path) -> None:
    config = _load(tmp_path, "exports:\n"
                   "  hook: {sink: webhook, source: usage_daily_by_user, url: 'https://h/x',"
                   " secret_env: HOOK_SECRET, max_attempts: 2}\n"
                   "  files: {sink: files, source: usage_daily_by_city, format: csv}\n"
                   "  py: {sink: python, source: usage_daily_by_city, hook: 'json:dumps'}\n")
    hook, files, py = (config.exports[n] for n in ("hook", "files", "py"))
    assert (hook.name, hook.url, hook.secret_env, hook.timeout_s, hook.max_attempts) == (
        "hook", "https://h/x", "HOOK_SECRET", 10.0, 2)
    assert (files.format, files.period, files.additive) == ("csv", "day", False)
    import json

    assert py.function is json.dumps and py.hook == "json:dumps"


def test_plan_limit_overrides_inherit_the_plan_included(tmp_path: Path) -> None:
    config = _load(tmp_path, "entitlements: {hook: plan_limits, params: {included: 10, "
                             "limit: 20, overrides: {7: {limit: 15}, u2: {included: 3}}}}\n")
    hook = config.entitlements.hook
    assert (hook.default.included, hook.default.limit) == (10, 20)
    assert {k: (v.included, v.limit) for k, v in hook.overrides.items()} == {
        "7": (10, 15), "u2": (3, 3)}


def test_price_csv_problems_name_the_csv_and_line(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(
        "model_id,effective_from,input_per_million,output_per_million\n"
        "m1,2026-01-01,1.0,2.0\nm1,January,1.0,2.0\n"
    )
    message = _error(tmp_path, "pricing: {hook: per_model, params: {prices: prices.csv}}\n")
    assert ": pricing.params.prices: " in message and "prices.csv: line 3:" in message

    (tmp_path / "prices.csv").write_text(
        "model_id,effective_from,input_per_million,output_per_million,reasoning_per_million\n"
    )
    message = _error(tmp_path, "pricing: {hook: per_model, params: {prices: prices.csv}}\n")
    assert "unknown column(s) reasoning_per_million" in message


def test_customer_map_bad_row_names_the_csv_line(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("user_id,stripe_customer_id\nu1,cus_1\nu2,acct_2\n")
    with pytest.raises(ConfigError, match=r"c\.csv: line 3: expected user_id and a cus_"):
        _load(tmp_path, "exports: {a: {sink: stripe_meter_events, source: usage_daily_by_user,"
                        " event_name: e, value: calls, customer_map: c.csv}}\n")


def test_definitions_load_stops_on_an_invalid_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assets.exports import definitions as exports_defs

    path = tmp_path / "city-usage.yaml"
    monkeypatch.setenv("CITY_USAGE_CONFIG", str(path))
    assert exports_defs.definitions().assets is None or not list(exports_defs.definitions().assets)
    path.write_text("exports: {a: {sink: files, source: usage_daily_by_user, format: xls}}\n")
    with pytest.raises(ConfigError, match=r"exports\.a\.format: expected one of"):
        exports_defs.definitions()
