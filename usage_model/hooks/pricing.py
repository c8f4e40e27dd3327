"""The four built-in pricing hooks: worked examples of the hook protocol.

Money rule: every amount is computed with `Decimal` and stored as integer credits
(1 USD = 1,000,000 credits), rounded half up once per charge line (never per call).
A usage group that cannot be priced gets a charge with a null amount and a `reason`,
never 0. Anonymous calls (null `user_id`) cannot be billed: they get a null charge with
reason `anonymous_usage`, so they stay visible.
"""

from __future__ import annotations

import bisect
import csv
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import ValidationInfo, field_validator

from usage_model.hooks.fields import (
    Count,
    CountFromOne,
    QuotedDecimal,
    Section,
    existing_file,
    parse_params,
)
from usage_model.hooks.protocol import HookContext, ParamError, credits_half_up, stable_ref

UNITS = ("calls", "success_calls", "tokens")
Unit = Literal[UNITS]


class PerCallParams(Section):
    credits_per_call: Count
    count: Literal["success_calls", "calls"] = "success_calls"


class QuotaPlanParams(Section):
    plan_credits: Count
    included: Count
    unit: Unit = "calls"


class IncludedOverageParams(Section):
    included: Count
    overage_credits: QuotedDecimal
    per_units: CountFromOne = 1
    base_credits: Count = 0
    unit: Unit = "tokens"


def measure(row: Mapping[str, Any], unit: str) -> int:
    if unit == "tokens":
        return int(row["input_tokens"]) + int(row["output_tokens"])
    return int(row[unit])


def _anonymous(kind: str, ctx: HookContext, row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": None, "city_id": row["city_id"], "amount_credits": None,
        "description": f"{row['calls']} anonymous calls",
        "ref": stable_ref(kind, ctx.period, row["city_id"], None, "anonymous"),
        "reason": "anonymous_usage",
    }


def _per_user_charges(
    kind: str, unit: str, usage: pa.Table, ctx: HookContext,
    charge: Callable[[int], tuple[int, str]],
) -> list[dict[str, Any]]:
    """One charge per (user, city) from the units used; anonymous usage gets a null charge."""
    out = []
    for row in usage.to_pylist():
        if row["user_id"] is None:
            out.append(_anonymous(kind, ctx, row))
            continue
        amount, description = charge(measure(row, unit))
        out.append({
            "user_id": row["user_id"], "city_id": row["city_id"], "amount_credits": amount,
            "description": description,
            "ref": stable_ref(kind, ctx.period, row["city_id"], row["user_id"]),
        })
    return out


@dataclass(frozen=True)
class PerCall:
    """`credits_per_call` credits for each counted call (`count`: success_calls or calls)."""

    credits_per_call: int
    count: str = "success_calls"
    grain = ("user_id", "city_id")
    name = "per_call"

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path) -> PerCall:
        typed = parse_params(PerCallParams, params, base_dir)
        return cls(credits_per_call=typed.credits_per_call, count=typed.count)

    def __call__(self, usage: pa.Table, ctx: HookContext) -> list[dict[str, Any]]:
        out = []
        for row in usage.to_pylist():
            if row["user_id"] is None:
                out.append(_anonymous(self.name, ctx, row))
                continue
            n = row[self.count]
            out.append({
                "user_id": row["user_id"], "city_id": row["city_id"],
                "amount_credits": n * self.credits_per_call,
                "description": f"{n} {self.count} x {self.credits_per_call} credits",
                "ref": stable_ref(self.name, ctx.period, row["city_id"], row["user_id"]),
            })
        return out


PRICE_COLUMNS = ("model_id", "effective_from", "input_per_million", "output_per_million")
OPTIONAL_PRICE_COLUMNS = ("cached_input_per_million",)


@dataclass(frozen=True)
class ModelPrice:
    effective_from: date
    input_per_million: Decimal
    output_per_million: Decimal
    cached_input_per_million: Decimal | None


def read_price_table(path: Path) -> dict[str, list[ModelPrice]]:
    """CSV `model_id, effective_from, input_per_million, output_per_million
    [, cached_input_per_million]`: USD per million tokens, decimal text."""
    prices: dict[str, list[ModelPrice]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in PRICE_COLUMNS if c not in header]
        extra = [c for c in header if c not in PRICE_COLUMNS + OPTIONAL_PRICE_COLUMNS]
        if missing or extra:
            problem = f"missing column(s) {', '.join(missing)}" if missing else (
                f"unknown column(s) {', '.join(extra)} (a price column the hooks would ignore)"
            )
            raise ParamError("prices", f"{path}: header: {problem}")
        for line, row in enumerate(reader, start=2):
            try:
                model = (row["model_id"] or "").strip()
                if not model:
                    raise ValueError("empty model_id")
                cached = (row.get("cached_input_per_million") or "").strip()
                price = ModelPrice(
                    effective_from=date.fromisoformat(row["effective_from"].strip()),
                    input_per_million=Decimal(row["input_per_million"].strip()),
                    output_per_million=Decimal(row["output_per_million"].strip()),
                    cached_input_per_million=Decimal(cached) if cached else None,
                )
                values = [price.input_per_million, price.output_per_million]
                if price.cached_input_per_million is not None:
                    values.append(price.cached_input_per_million)
                if any(not v.is_finite() or v < 0 for v in values):
                    raise ValueError("prices must be decimals >= 0")
            except (ValueError, InvalidOperation, AttributeError) as exc:
                raise ParamError("prices", f"{path}: line {line}: {exc or 'bad value'}") from None
            if any(p.effective_from == price.effective_from for p in prices[model]):
                raise ParamError(
                    "prices", f"{path}: line {line}: {model} {price.effective_from} listed twice"
                )
            prices[model].append(price)
    return {m: sorted(ps, key=lambda p: p.effective_from) for m, ps in prices.items()}


class PerModelParams(Section):
    prices: dict[str, list[ModelPrice]]  # model_id -> prices by effective_from

    @field_validator("prices", mode="before")
    @classmethod
    def _read(cls, value: Any, info: ValidationInfo) -> dict[str, list[ModelPrice]]:
        if not isinstance(value, str) or not value:
            raise ValueError("expected the path of a price CSV")
        try:
            return read_price_table(existing_file(value, info.context["base_dir"]))
        except ParamError as exc:
            raise ValueError(exc.problem) from None


@dataclass(frozen=True)
class PerModel:
    """Tokens priced per model from a dated price table; the price in effect on the call's
    day applies. Cached input tokens (a part of input tokens) use `cached_input_per_million`
    when the row has one. One line per (user, city, model, price row)."""

    prices: Mapping[str, list[ModelPrice]]
    grain = ("user_id", "city_id", "model_id", "day")
    name = "per_model"

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path) -> PerModel:
        return cls(prices=parse_params(PerModelParams, params, base_dir).prices)

    def price_on(self, model: str | None, day: date) -> ModelPrice | None:
        rows = self.prices.get(model) if model is not None else None
        if not rows:
            return None
        i = bisect.bisect_right([p.effective_from for p in rows], day) - 1
        return rows[i] if i >= 0 else None

    def __call__(self, usage: pa.Table, ctx: HookContext) -> list[dict[str, Any]]:
        priced: dict[tuple, Decimal] = defaultdict(Decimal)
        tokens: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
        unpriced: dict[tuple, list] = defaultdict(lambda: [0, set()])
        anonymous: dict[str, int] = defaultdict(int)
        for row in usage.to_pylist():
            if row["user_id"] is None:
                anonymous[row["city_id"]] += row["calls"]
                continue
            price = self.price_on(row["model_id"], row["day"])
            if price is None:
                key = (row["user_id"], row["city_id"], row["model_id"])
                unpriced[key][0] += row["calls"]
                unpriced[key][1].add(row["day"])
                continue
            key = (row["user_id"], row["city_id"], row["model_id"], price.effective_from)
            cached = min(row["cached_input_tokens"], row["input_tokens"])
            if price.cached_input_per_million is None:
                cached = 0
            plain = row["input_tokens"] - cached
            priced[key] += (
                plain * price.input_per_million
                + cached * (price.cached_input_per_million or 0)
                + row["output_tokens"] * price.output_per_million
            )  # tokens x USD per million tokens = credits, exactly
            t = tokens[key]
            t[0], t[1], t[2] = t[0] + plain, t[1] + cached, t[2] + row["output_tokens"]
        out: list[dict[str, Any]] = []
        for (user, city, model, since), amount in sorted(priced.items(), key=_sort_key):
            plain, cached, output = tokens[(user, city, model, since)]
            out.append({
                "user_id": user, "city_id": city, "amount_credits": credits_half_up(amount),
                "description": f"{model} (prices from {since}): {plain} input, {cached} cached "
                               f"input, {output} output tokens",
                "ref": stable_ref(self.name, ctx.period, city, user, model, since.isoformat()),
            })
        for (user, city, model), (calls, days) in sorted(unpriced.items(), key=_sort_key):
            first = min(days).isoformat()
            reason = "no_model_id" if model is None else "no_price"
            out.append({
                "user_id": user, "city_id": city, "amount_credits": None,
                "description": f"{calls} calls of {model or 'an unknown model'} from {first}",
                "ref": stable_ref(self.name, ctx.period, city, user, model, "unpriced"),
                "reason": reason if model is None else f"no_price: {model} has no price in "
                          f"effect on {first}",
            })
        for city, calls in sorted(anonymous.items()):
            out.append(_anonymous(self.name, ctx, {"city_id": city, "calls": calls}))
        return out


def _sort_key(item: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in item[0])


class _PerUserPlan:
    """A plan priced per (user, city) from one count of `unit`: a subclass (a frozen dataclass
    with `unit` and `included` fields) says what a count costs, in `charge`."""

    grain = ("user_id", "city_id")
    name: ClassVar[str]
    params_model: ClassVar[type[Section]]
    # Declared for the methods below; the subclass's dataclass fields provide them (a plain
    # base class's annotations are not dataclass fields).
    unit: str
    included: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path) -> Any:
        return cls(**parse_params(cls.params_model, params, base_dir).model_dump())

    def over(self, used: int) -> int:
        return max(0, used - self.included)

    def charge(self, used: int) -> tuple[int, str]:
        raise NotImplementedError

    def __call__(self, usage: pa.Table, ctx: HookContext) -> list[dict[str, Any]]:
        return _per_user_charges(self.name, self.unit, usage, ctx, self.charge)


@dataclass(frozen=True)
class QuotaPlan(_PerUserPlan):
    """A plan: `plan_credits` per period per (user, city) with usage; `included` units
    (calls, success_calls or tokens = input + output) come with it. Usage past the quota is
    not priced here (see the entitlement hook); the line's description states it."""

    plan_credits: int
    included: int
    unit: str = "calls"
    name = "quota_plan"
    params_model = QuotaPlanParams

    def charge(self, used: int) -> tuple[int, str]:
        over = self.over(used)
        return self.plan_credits, (
            f"plan: {self.included} {self.unit} included, {used} used"
            + (f", {over} over quota" if over else "")
        )


@dataclass(frozen=True)
class IncludedOverage(_PerUserPlan):
    """`base_credits` per period, `included` units free, then `overage_credits` per
    `per_units` units (a decimal, e.g. '2.5' credits per 1000 tokens), rounded half up."""

    included: int
    overage_credits: Decimal
    per_units: int = 1
    base_credits: int = 0
    unit: str = "tokens"
    name = "included_overage"
    params_model = IncludedOverageParams

    def charge(self, used: int) -> tuple[int, str]:
        over = self.over(used)
        amount = self.base_credits + credits_half_up(
            Decimal(over) * self.overage_credits / Decimal(self.per_units)
        )
        return amount, (
            f"{self.base_credits} base + {over} {self.unit} over {self.included} included "
            f"at {self.overage_credits}/{self.per_units}"
        )


BUILT_INS: dict[str, Any] = {
    "per_call": PerCall,
    "per_model": PerModel,
    "quota_plan": QuotaPlan,
    "included_overage": IncludedOverage,
}
