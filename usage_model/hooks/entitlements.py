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
from typing import Any

import pyarrow as pa

from usage_model.hooks.pricing import UNITS, _check_keys, _choice_param, _int_param, measure
from usage_model.hooks.protocol import HookContext, ParamError


@dataclass(frozen=True)
class Limits:
    included: int
    limit: int


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
        _check_keys(params, {"scope", "unit", "included", "limit", "overrides"})
        default = _limits(params, "")
        overrides_raw = params.get("overrides") or {}
        if not isinstance(overrides_raw, Mapping):
            raise ParamError("overrides", "expected a mapping of id -> {included, limit}")
        overrides = {}
        for subject, spec in overrides_raw.items():
            if not isinstance(spec, Mapping):
                raise ParamError(f"overrides.{subject}", "expected {included, limit}")
            _check_keys_prefixed(spec, f"overrides.{subject}")
            overrides[str(subject)] = _limits(
                {"included": default.included, **spec}, f"overrides.{subject}."
            )
        return cls(
            scope=_choice_param(params, "scope", ("user", "city"), "user"),
            unit=_choice_param(params, "unit", UNITS, "calls"),
            default=default,
            overrides=overrides,
        )

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


def _check_keys_prefixed(spec: Mapping[str, Any], prefix: str) -> None:
    for key in spec:
        if key not in ("included", "limit"):
            raise ParamError(f"{prefix}.{key}", "unknown key (allowed: included, limit)")


def _limits(params: Mapping[str, Any], prefix: str) -> Limits:
    try:
        included = _int_param(params, "included")
        limit = _int_param(params, "limit", included)
    except ParamError as exc:
        raise ParamError(prefix + exc.key, exc.problem) from None
    if limit < included:
        raise ParamError(prefix + "limit", f"limit {limit} is below included {included}")
    return Limits(included, limit)


BUILT_INS: dict[str, Any] = {"plan_limits": PlanLimits}
