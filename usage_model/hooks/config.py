"""The hooks-and-exports config file (`city-usage.yaml`), as typed pydantic models.

`load_config(path)` validates the whole file when the definitions load, before any run:
an unknown key, a wrong type, a missing required key or a hook that does not import is a
`ConfigError` whose message is one line naming the file and the key, for example
`city-usage.yaml: exports.billing.timeout_s: expected a number > 0, got 'soon'`.
An absent file is no hooks and no exports (`load_config` returns None).
Each export is one model per sink (a union discriminated by `sink`), with typed options.
"""

from __future__ import annotations

import csv
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from usage_model.config import Settings
from usage_model.hooks.fields import (
    CountFromOne,
    Flag,
    NonEmptyStr,
    Params,
    PositiveNumber,
    Section,
    at_key,
    existing_file,
    one_line,
    problems,
    show,
)
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


class ConfigError(ValueError):
    """A config file problem, as one line: `<file>: <key>: <what is wrong>`."""


Source = Literal[SOURCES]
PeriodName = Literal[PERIODS]


class _Export(Section):
    """What every export has; `name` is its key under `exports:` (set by the loader)."""

    set_by_loader: ClassVar[frozenset[str]] = frozenset({"name"})
    name: str = ""
    source: Source
    period: PeriodName = "day"

    @property
    def additive(self) -> bool:
        """Additive sinks receive only differences; snapshot sinks a superseding version."""
        return False


class FilesExport(_Export):
    sink: Literal["files"]
    format: Literal[FILE_FORMATS] = "parquet"


class WebhookExport(_Export):
    sink: Literal["webhook"]
    url: NonEmptyStr
    secret_env: NonEmptyStr  # the NAME of the variable holding the signing secret
    timeout_s: PositiveNumber = 10.0
    max_attempts: CountFromOne = 5

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"expected an http(s) URL, got {show(url)}")
        return url

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        if not _ENV_NAME.match(name):
            raise ValueError("expected the NAME of an environment variable")
        return name


class StripeMeterExport(_Export):
    sink: Literal["stripe_meter_events"]
    event_name: NonEmptyStr
    value: NonEmptyStr
    customer_map: dict[str, str]  # user_id -> cus_..., read from the CSV the file names
    max_requests_per_second: PositiveNumber = 20.0

    @property
    def additive(self) -> bool:
        return True

    @field_validator("source")
    @classmethod
    def _per_user(cls, source: str) -> str:
        if source not in METER_MEASURES:
            raise ValueError(f"meter events need a per-user source ({', '.join(METER_MEASURES)})")
        return source

    @field_validator("value")
    @classmethod
    def _measure(cls, value: str, info: ValidationInfo) -> str:
        source = info.data.get("source")
        if source in METER_MEASURES and value not in METER_MEASURES[source]:
            raise ValueError(f"expected an integer measure of {source} "
                             f"({', '.join(METER_MEASURES[source])}), got {show(value)}")
        return value

    @field_validator("customer_map", mode="before")
    @classmethod
    def _read_map(cls, value: Any, info: ValidationInfo) -> dict[str, str]:
        return read_customer_map(existing_file(value, _base_dir(info)))


class PythonExport(_Export):
    sink: Literal["python"]
    hook: NonEmptyStr  # `package.module:function`
    _function: Any = PrivateAttr(None)

    @field_validator("hook")
    @classmethod
    def _reference(cls, ref: str) -> str:
        _check_ref(ref)
        return ref

    @model_validator(mode="after")
    def _import(self) -> PythonExport:
        try:
            self._function = import_hook(self.hook, ValueError)
        except ValueError as exc:
            raise at_key("hook", str(exc)) from None
        return self

    @property
    def function(self) -> Callable[..., Any]:
        return self._function


ExportConfig = FilesExport | WebhookExport | StripeMeterExport | PythonExport
_EXPORT = Annotated[ExportConfig, Field(discriminator="sink")]


def _export_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError("an export name is letters, digits and _ (it names a Dagster asset)")
    return name


class _HookSection(Section):
    hook: NonEmptyStr  # a built-in name or `package.module:function`
    params: Params = {}
    period: PeriodName = "month"
    _resolved: Any = PrivateAttr(None)

    @classmethod
    def built_ins(cls) -> Mapping[str, Any]:
        raise NotImplementedError

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> _HookSection:
        built_ins = self.built_ins()
        if self.hook in built_ins:
            try:
                self._resolved = built_ins[self.hook].from_params(self.params,
                                                                  base_dir=_base_dir(info))
            except ParamError as exc:  # a key relative to params
                raise at_key(f"params.{exc.key}", exc.problem) from None
        elif ":" in self.hook:
            try:
                _check_ref(self.hook)
                self._resolved = import_hook(self.hook, ValueError)
            except ValueError as exc:
                raise at_key("hook", str(exc)) from None
        else:
            raise at_key("hook", f"unknown built-in {self.hook!r} (built-ins: "
                                 f"{', '.join(built_ins)}; or 'package.module:function')")
        return self

    def config(self) -> HookConfig:
        return HookConfig(hook_name=self.hook, hook=self._resolved, params=self.params,
                          period=self.period,
                          apply_to_balance=getattr(self, "apply_to_balance", False))


class PricingSection(_HookSection):
    apply_to_balance: Flag = False

    @classmethod
    def built_ins(cls) -> Mapping[str, Any]:
        from usage_model.hooks import pricing

        return pricing.BUILT_INS


class EntitlementsSection(_HookSection):
    @classmethod
    def built_ins(cls) -> Mapping[str, Any]:
        from usage_model.hooks import entitlements

        return entitlements.BUILT_INS


class CityUsageFile(Section):
    """The whole file. Sections are checked in this order; the first problem is reported."""

    pricing: PricingSection | None = None
    entitlements: EntitlementsSection | None = None
    exports: Annotated[dict[Annotated[str, BeforeValidator(_export_name)], _EXPORT],
                       BeforeValidator(lambda value: {} if value is None else value)] = {}

    @model_validator(mode="after")
    def _hooks_for_hook_tables(self) -> CityUsageFile:
        for name, export in self.exports.items():
            for table, hook, section in (("charges", self.pricing, "pricing"),
                                         ("entitlement_status", self.entitlements,
                                          "entitlements")):
                if export.source != table:
                    continue
                if hook is None:
                    raise at_key(f"exports.{name}.source", f"{table} needs a '{section}' section")
                if hook.period != export.period:
                    raise at_key(f"exports.{name}.period", f"{table} is built per {hook.period} "
                                                           f"({section}.period); got "
                                                           f"{export.period}")
        return self


_SINK_TAGS = frozenset(SINKS)


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


def _base_dir(info: ValidationInfo) -> Path:
    return (info.context or {}).get("base_dir", Path("."))


def _check_ref(ref: str) -> None:
    if not _HOOK_REF.match(ref):
        raise ValueError(f"expected 'package.module:function', got {show(ref)}")


def import_hook(ref: str, fail: Callable[[str], Exception]) -> Callable[..., Any]:
    """Import `package.module:function`; any problem becomes `fail(one-line reason)`."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is a config error
        problem = f"cannot import {module_name!r}: {type(exc).__name__}: {one_line(exc)}"
        raise fail(problem) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise fail(f"{module_name!r} has no callable {attr!r}")
    return fn


def load_config(path: Path | str | None = None) -> CityUsageConfig | None:
    """Load and validate the config file; None when it does not exist."""
    path = Path(path) if path is not None else Settings.from_env().config_file
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError(f"{path}: {where}: not valid YAML: {one_line(exc)}") from None
    try:
        parsed = CityUsageFile.model_validate({} if raw is None else raw,
                                              context={"base_dir": path.parent})
    except ValidationError as exc:
        key, problem = problems(exc, _SINK_TAGS)[0]
        raise ConfigError(f"{path}: {key}: {problem}") from None
    return CityUsageConfig(
        path=path,
        exports={name: export.model_copy(update={"name": name})
                 for name, export in parsed.exports.items()},
        pricing=parsed.pricing.config() if parsed.pricing else None,
        entitlements=parsed.entitlements.config() if parsed.entitlements else None,
    )


def read_customer_map(path: Path) -> dict[str, str]:
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
