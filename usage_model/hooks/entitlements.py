"""The built-in entitlement hook: plan limits per user or per city ("entitlement first,
usage later"). Each subject with usage in the period gets one `entitlement_status` row:
`included`, `used`, `remaining = max(0, included - used)`, `overage = max(0, used - included)`
and `over_limit = used > limit` (the hard limit, `included` unless set).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import BeforeValidator, model_validator

from usage_model.hooks.fields import Count, Section, at_key, parse_params
from usage_model.hooks.pricing import Unit, measure
from usage_model.hooks.protocol import HookContext


@dataclass(frozen=True)
class Limits:
    included: int
    limit: int


class LimitsOverride(Section):
    included: Count | None = None  # unset: the plan's included
    limit: Count | None = None  # unset: this override's included


def _string_keys(value: Any) -> Any:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else value


class PlanLimitsParams(Section):
    scope: Literal["user", "city"] = "user"
    unit: Unit = "calls"
    included: Count
    limit: Count | None = None  # unset: included
    overrides: Annotated[dict[str, LimitsOverride], BeforeValidator(_string_keys)] = {}

    @model_validator(mode="after")
    def _limits_not_below_included(self) -> PlanLimitsParams:
        checked = {"limit": self.default()} | {
            f"overrides.{subject}.limit": limits for subject, limits in self.resolved().items()}
        for key, limits in checked.items():
            if limits.limit < limits.included:
                raise at_key(key, f"limit {limits.limit} is below included {limits.included}")
        return self

    def default(self) -> Limits:
        return Limits(self.included, self.included if self.limit is None else self.limit)

    def resolved(self) -> dict[str, Limits]:
        out = {}
        for subject, spec in self.overrides.items():
            included = self.included if spec.included is None else spec.included
            out[subject] = Limits(included, included if spec.limit is None else spec.limit)
        return out


@dataclass(frozen=True)
class PlanLimits:
    scope: str
    unit: str
    default: Limits
    overrides: Mapping[str, Limits] = field(default_factory=dict)
    name = "plan_limits"

    @property
    def grain(self) -> tuple[str, ...]:
        return ("user_id",) if self.scope == "user" else ("city_id",)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path) -> PlanLimits:
        typed = parse_params(PlanLimitsParams, params, base_dir)
        return cls(scope=typed.scope, unit=typed.unit, default=typed.default(),
                   overrides=typed.resolved())

    def __call__(self, usage: pa.Table, ctx: HookContext) -> list[dict[str, Any]]:
        used: dict[str, int] = defaultdict(int)
        for row in usage.to_pylist():
            subject = row["user_id"] if self.scope == "user" else row["city_id"]
            if subject is not None:  # anonymous calls have no plan to count against
                used[subject] += measure(row, self.unit)
        out = []
        for subject in sorted(used):
            limits = self.overrides.get(subject, self.default)
            n = used[subject]
            out.append({
                "scope": self.scope, "subject_id": subject,
                "user_id": subject if self.scope == "user" else None,
                "city_id": subject if self.scope == "city" else None,
                "unit": self.unit, "included": limits.included, "limit_value": limits.limit,
                "used": n, "remaining": max(0, limits.included - n),
                "overage": max(0, n - limits.included), "over_limit": n > limits.limit,
            })
        return out


BUILT_INS: dict[str, Any] = {"plan_limits": PlanLimits}
