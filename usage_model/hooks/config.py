"""The hooks-and-exports config file (`city-usage.yaml`, see usage_model/exports/README.md).

`load_config(path)` validates the whole file when the definitions load, before any run:
an unknown key, a wrong type, a missing required key or a hook that does not import is a
`ConfigError` whose message is one line naming the file and the key, for example
`city-usage.yaml: exports.billing.timeout_s: expected a number > 0, got 'soon'`.
An absent file is no hooks and no exports (`load_config` returns None).
"""

from __future__ import annotations

import csv
import importlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from usage_model.hooks.protocol import ParamError

SINKS = ("files", "webhook", "stripe_meter_events", "python")
SOURCES = (
    "usage_daily_by_user",
    "usage_daily_by_model",
    "usage_daily_by_city",
    "charges",
    "entitlement_status",
)
PERIODS = ("day", "month")
FILE_FORMATS = ("parquet", "csv", "jsonl")

# Integer measures a meter event may carry, per source that has a user_id.
METER_MEASURES: dict[str, tuple[str, ...]] = {
    "usage_daily_by_user": (
        "calls", "success_calls", "error_calls", "input_tokens", "output_tokens",
        "cached_input_tokens", "reasoning_tokens", "cost_credits",
    ),
    "charges": ("amount_credits",),
    "entitlement_status": ("used", "overage"),
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOOK_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

_COMMON_EXPORT_KEYS = {"sink", "source", "period"}
_SINK_KEYS: dict[str, set[str]] = {
    "files": {"format"},
    "webhook": {"url", "secret_env", "timeout_s", "max_attempts"},
    "stripe_meter_events": {"event_name", "value", "customer_map", "max_requests_per_second"},
    "python": {"hook"},
}


class ConfigError(ValueError):
    """A config file problem, as one line: `<file>: <key>: <what is wrong>`."""


@dataclass(frozen=True)
class ExportConfig:
    name: str
    sink: str
    source: str
    period: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def additive(self) -> bool:
        """Additive sinks receive only differences; snapshot sinks a superseding version."""
        return self.sink == "stripe_meter_events"


@dataclass(frozen=True)
class HookConfig:
    """`pricing` or `entitlements`: a resolved hook plus its validated params."""

    hook_name: str
    hook: Any
    params: Mapping[str, Any]
    period: str
    apply_to_balance: bool = False


@dataclass(frozen=True)
class CityUsageConfig:
    path: Path
    exports: Mapping[str, ExportConfig]
    pricing: HookConfig | None = None
    entitlements: HookConfig | None = None


class _Validator:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {_show(value)}")
        return value

    def keys(self, section: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        for name in section:
            if name not in allowed:
                where = f"{key}.{name}" if key else str(name)
                raise self.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}, got {_show(value)}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {_show(value)}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, f"expected a number > 0, got {_show(value)}")
        return float(value)

    def integer(self, value: Any, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected an integer >= {minimum}, got {_show(value)}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_show(value)}")
        return value

    def required(self, section: Mapping[str, Any], key: str, name: str) -> Any:
        if name not in section or section[name] is None:
            raise self.fail(f"{key}.{name}", "required key is missing")
        return section[name]

    def file(self, value: Any, key: str) -> Path:
        path = Path(self.string(value, key))
        if not path.is_absolute():
            path = self.path.parent / path
        if not path.is_file():
            raise self.fail(key, f"file not found: {path}")
        return path

    def hook(self, value: Any, key: str) -> Callable[..., Any]:
        ref = self.string(value, key)
        if not _HOOK_REF.match(ref):
            raise self.fail(key, f"expected 'package.module:function', got {_show(ref)}")
        return import_hook(ref, lambda problem: self.fail(key, problem))


def import_hook(ref: str, fail: Callable[[str], Exception]) -> Callable[..., Any]:
    """Import `package.module:function`; any problem becomes `fail(one-line reason)`."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is a config error
        problem = f"cannot import {module_name!r}: {type(exc).__name__}: {_one_line(exc)}"
        raise fail(problem) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise fail(f"{module_name!r} has no callable {attr!r}")
    return fn


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def config_path_from_env() -> Path:
    return Path(os.environ.get("CITY_USAGE_CONFIG") or "city-usage.yaml").absolute()


def load_config(path: Path | str | None = None) -> CityUsageConfig | None:
    """Load and validate the config file; None when it does not exist."""
    path = Path(path) if path is not None else config_path_from_env()
    if not path.exists():
        return None
    v = _Validator(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise v.fail(where, f"not valid YAML: {_one_line(exc)}") from None
    top = v.mapping(raw, "(top level)")
    v.keys(top, "", {"exports", "pricing", "entitlements"})

    from usage_model.hooks import entitlements as entitlement_hooks
    from usage_model.hooks import pricing as pricing_hooks

    pricing = _hook_section(v, top.get("pricing"), "pricing", pricing_hooks.BUILT_INS, True)
    entitlements = _hook_section(
        v, top.get("entitlements"), "entitlements", entitlement_hooks.BUILT_INS, False
    )
    exports_raw = v.mapping(top.get("exports"), "exports")
    exports: dict[str, ExportConfig] = {}
    for name, section in exports_raw.items():
        exports[str(name)] = _export(v, str(name), section, pricing, entitlements)
    return CityUsageConfig(path=path, exports=exports, pricing=pricing, entitlements=entitlements)


def _hook_section(
    v: _Validator,
    raw: Any,
    key: str,
    built_ins: Mapping[str, Any],
    balance: bool,
) -> HookConfig | None:
    if raw is None:
        return None
    section = v.mapping(raw, key)
    allowed = {"hook", "params", "period"} | ({"apply_to_balance"} if balance else set())
    v.keys(section, key, allowed)
    hook_name = v.string(v.required(section, key, "hook"), f"{key}.hook")
    params_raw = v.mapping(section.get("params"), f"{key}.params")
    period = v.choice(section.get("period", "month"), f"{key}.period", PERIODS)
    apply = v.boolean(section.get("apply_to_balance", False), f"{key}.apply_to_balance")
    if hook_name in built_ins:
        built_in = built_ins[hook_name]
        try:
            hook = built_in.from_params(params_raw, base_dir=v.path.parent)
        except ParamError as exc:  # a key relative to params: prefix file and section
            raise v.fail(f"{key}.params.{exc.key}", exc.problem) from None
        params = params_raw
    elif ":" in hook_name:
        hook = v.hook(hook_name, f"{key}.hook")
        params = params_raw
    else:
        raise v.fail(
            f"{key}.hook",
            f"unknown built-in {hook_name!r} (built-ins: {', '.join(built_ins)}; "
            "or 'package.module:function')",
        )
    return HookConfig(hook_name=hook_name, hook=hook, params=params, period=period,
                      apply_to_balance=apply)


def _export(
    v: _Validator,
    name: str,
    raw: Any,
    pricing: HookConfig | None,
    entitlements: HookConfig | None,
) -> ExportConfig:
    key = f"exports.{name}"
    if not _NAME.match(name):
        raise v.fail(key, "an export name is letters, digits and _ (it names a Dagster asset)")
    section = v.mapping(raw, key)
    sink = v.choice(v.required(section, key, "sink"), f"{key}.sink", SINKS)
    v.keys(section, key, _COMMON_EXPORT_KEYS | _SINK_KEYS[sink])
    source = v.choice(v.required(section, key, "source"), f"{key}.source", SOURCES)
    period = v.choice(section.get("period", "day"), f"{key}.period", PERIODS)
    for table, hook, section_name in (
        ("charges", pricing, "pricing"),
        ("entitlement_status", entitlements, "entitlements"),
    ):
        if source != table:
            continue
        if hook is None:
            raise v.fail(f"{key}.source", f"{table} needs a '{section_name}' section")
        if hook.period != period:
            raise v.fail(
                f"{key}.period",
                f"{table} is built per {hook.period} ({section_name}.period); got {period}",
            )
    options: dict[str, Any] = {}
    if sink == "files":
        options["format"] = v.choice(section.get("format", "parquet"), f"{key}.format",
                                     FILE_FORMATS)
    elif sink == "webhook":
        url = v.string(v.required(section, key, "url"), f"{key}.url")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise v.fail(f"{key}.url", f"expected an http(s) URL, got {_show(url)}")
        secret_env = v.string(v.required(section, key, "secret_env"), f"{key}.secret_env")
        if not _ENV_NAME.match(secret_env):
            raise v.fail(f"{key}.secret_env", "expected the NAME of an environment variable")
        options.update(
            url=url,
            secret_env=secret_env,
            timeout_s=v.number(section.get("timeout_s", 10), f"{key}.timeout_s"),
            max_attempts=v.integer(section.get("max_attempts", 5), f"{key}.max_attempts", 1),
        )
    elif sink == "stripe_meter_events":
        if source not in METER_MEASURES:
            raise v.fail(
                f"{key}.source",
                f"meter events need a per-user source ({', '.join(METER_MEASURES)})",
            )
        value = v.string(v.required(section, key, "value"), f"{key}.value")
        if value not in METER_MEASURES[source]:
            raise v.fail(
                f"{key}.value",
                f"expected an integer measure of {source} "
                f"({', '.join(METER_MEASURES[source])}), got {_show(value)}",
            )
        customer_map = v.file(v.required(section, key, "customer_map"), f"{key}.customer_map")
        options.update(
            event_name=v.string(v.required(section, key, "event_name"), f"{key}.event_name"),
            value=value,
            customer_map=read_customer_map(customer_map, v),
            max_requests_per_second=v.number(
                section.get("max_requests_per_second", 20), f"{key}.max_requests_per_second"
            ),
        )
    elif sink == "python":
        ref = v.string(v.required(section, key, "hook"), f"{key}.hook")
        options["hook_ref"] = ref
        options["hook"] = v.hook(ref, f"{key}.hook")
    return ExportConfig(name=name, sink=sink, source=source, period=period, options=options)


def read_customer_map(path: Path, v: _Validator) -> dict[str, str]:
    """CSV `user_id, stripe_customer_id`; a bad row names the file and its line."""
    mapping: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"user_id", "stripe_customer_id"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(f"{path}: header: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            user, customer = (row.get("user_id") or "").strip(), (
                row.get("stripe_customer_id") or ""
            ).strip()
            if not user or not customer.startswith("cus_"):
                raise ConfigError(
                    f"{path}: line {line}: expected user_id and a cus_... customer id"
                )
            if user in mapping and mapping[user] != customer:
                raise ConfigError(f"{path}: line {line}: user {user!r} mapped twice")
            mapping[user] = customer
    return mapping
