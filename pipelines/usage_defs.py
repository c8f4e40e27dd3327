"""Definitions of this domain: assets, checks, jobs, schedules, sensors."""

from __future__ import annotations

import dagster as dg


def definitions() -> dg.Definitions:
    return dg.Definitions()
