"""Typed building blocks of `city-usage.yaml` (pydantic), with one-line problems.

Every section is a `Section`: an unknown key is refused with the allowed ones; the types
below refuse what YAML would otherwise coerce (`yes` for a number, `0.1` for a decimal).
`problems(exc)` turns a pydantic `ValidationError` into `(key path, problem)` lines, the
key path dotted as the user wrote it (`exports.billing.timeout_s`, `pricing.params.count`).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


class Section(BaseModel):
    """A mapping of known keys; `unknown key (allowed: ...)` names the offending key."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    set_by_loader: ClassVar[frozenset[str]] = frozenset()  # fields the file cannot set

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = sorted(set(cls.model_fields) - cls.set_by_loader)
            for key in data:
                if key not in allowed:
                    raise PydanticCustomError(
                        "unknown_key", "unknown key (allowed: {allowed})",
                        {"key": str(key), "allowed": ", ".join(allowed)})
        return data


def _non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {show(value)}")
    return value


def _positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"expected a number > 0, got {show(value)}")
    return float(value)


def _integer_at_least(minimum: int):
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {show(value)}")
        return value
    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {show(value)}")
    return value


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError(f"write decimals as quoted text (e.g. '0.25'), got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a decimal number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"expected a decimal >= 0, got {value!r}")
    return number


def _mapping_or_empty(value: Any) -> Any:
    return {} if value is None else value


NonEmptyStr = Annotated[str, BeforeValidator(_non_empty_string)]
PositiveNumber = Annotated[float, BeforeValidator(_positive_number)]
Count = Annotated[int, BeforeValidator(_integer_at_least(0))]
CountFromOne = Annotated[int, BeforeValidator(_integer_at_least(1))]
Flag = Annotated[bool, BeforeValidator(_boolean)]
QuotedDecimal = Annotated[Decimal, BeforeValidator(_decimal)]
Params = Annotated[dict[str, Any], BeforeValidator(_mapping_or_empty)]


def existing_file(value: Any, base_dir: Path) -> Path:
    """A file path, relative to the config file's folder; it must exist."""
    path = Path(_non_empty_string(value))
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


_TAG_HOLDERS = {"[key]"}


def problems(exc: ValidationError, tags: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(dotted key, problem) per error; `tags` are discriminator values pydantic puts in the
    location (`exports.a.webhook.url`) that the user never wrote."""
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if str(part) not in _TAG_HOLDERS]
        loc = [part for i, part in enumerate(loc) if not (i and part in tags)]
        kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
        if kind in ("unknown_key", "at_key"):
            loc.extend(ctx["key"].split("."))
            problem = error["msg"]
        elif kind == "missing":
            problem = "required key is missing"
        elif kind == "literal_error":
            choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
            problem = f"expected one of {', '.join(choices)}, got {show(given)}"
        elif kind == "union_tag_not_found":
            loc.append(str(ctx.get("discriminator", "")).strip("'"))
            problem = "required key is missing"
        elif kind == "union_tag_invalid":
            loc.append(str(ctx.get("discriminator", "")).strip("'"))
            choices = re.findall(r"'([^']*)'", ctx.get("expected_tags", ""))
            problem = f"expected one of {', '.join(choices)}, got {show(ctx.get('tag'))}"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            problem = f"expected a mapping, got {show(given)}"
        else:
            problem = one_line(error["msg"]).removeprefix("Value error, ")
        out.append((".".join(loc) or "(top level)", problem))
    return out


def parse_params(model: type[Section], params: Any, base_dir: Path) -> Any:
    """A hook's `params` as its typed model; a problem is a `ParamError` whose key is
    relative to `params`."""
    from usage_model.hooks.protocol import ParamError

    try:
        return model.model_validate(params, context={"base_dir": base_dir})
    except ValidationError as exc:
        key, problem = problems(exc)[0]
        raise ParamError(key, problem) from None


def at_key(key: str, problem: str) -> PydanticCustomError:
    """A problem found by a check across keys, reported at the dotted `key` (relative to
    the section that checks)."""
    return PydanticCustomError("at_key", "{problem}", {"key": key, "problem": problem})
