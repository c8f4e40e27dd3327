"""The code location's structure against a committed snapshot (definitions_snapshot.json):
asset keys, groups, deps, partitions, the step that builds each asset, checks, jobs,
schedules and sensors. A structural change (a renamed group, a dropped dep, a new sensor)
fails here with a readable diff until the snapshot is regenerated on purpose:

    uv run --frozen python -m tests.test_definitions_snapshot

The definitions load in a fresh process with a fixed environment (UTC, the default partition
start, the example city-usage.yaml), so the snapshot does not depend on the caller's shell.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
# The example configuration defines a pricing hook, entitlements and every sink, so the
# snapshot covers the exports domain too.
EXAMPLE_CONFIG = ROOT / "examples" / "city-usage.example.yaml"


def _partitions(pdef: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if pdef is None:
        return None
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return {"type": type(pdef).__name__, "start": pdef.start.date().isoformat(),
                "timezone": pdef.timezone, "end_offset": pdef.end_offset}
    return {"type": type(pdef).__name__}


def describe(defs: dg.Definitions) -> dict[str, Any]:
    """The structure of `defs` as plain JSON values, sorted so a diff shows only changes."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "step": node.assets_def.node_def.name if node.is_materializable else None,
            "checks": sorted(c.name for c in node.check_keys),
        }
    jobs = {}
    for job in defs.jobs or []:
        selection = getattr(job, "selection", None)  # asset jobs; none defines an op job
        if selection is not None:
            jobs[job.name] = sorted(k.to_user_string() for k in selection.resolve(graph))
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone,
                 "job": s.job_name, "default_status": s.default_status.value}
        for s in defs.schedules or []
    }
    sensors = {
        s.name: {"jobs": sorted(t.job_name for t in s.targets),
                 "assets": sorted(k.to_user_string() for k in s.asset_selection.resolve(graph))
                 if s.asset_selection is not None else [],
                 "minimum_interval_seconds": s.minimum_interval_seconds,
                 "default_status": s.default_status.value}
        for s in defs.sensors or []
    }
    return {"assets": assets, "jobs": dict(sorted(jobs.items())),
            "schedules": dict(sorted(schedules.items())),
            "sensors": dict(sorted(sensors.items()))}


def current() -> dict[str, Any]:
    """`describe` of pipelines.definitions, loaded in a fresh process with a fixed environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CITY_USAGE_", "STRIPE_", "PYTEST", "DAGSTER_"))}
    env.update({"CITY_USAGE_CONFIG": str(EXAMPLE_CONFIG), "CITY_USAGE_TIMEZONE": "UTC"})
    code = ("import json, tests.test_definitions_snapshot as s; "
            "from pipelines.definitions import defs; print(json.dumps(s.describe(defs)))")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _text(snapshot: dict[str, Any]) -> list[str]:
    return json.dumps(snapshot, indent=2, sort_keys=False).splitlines()


def test_definitions_match_the_committed_snapshot():
    expected = json.loads(SNAPSHOT.read_text())
    got = current()
    diff = "\n".join(difflib.unified_diff(_text(expected), _text(got), SNAPSHOT.name,
                                          "loaded definitions", lineterm=""))
    assert not diff, (
        f"the code location changed structure:\n{diff}\nIf intended, regenerate with "
        "`uv run --frozen python -m tests.test_definitions_snapshot` and commit it.")


def test_every_asset_group_is_a_domain_folder():
    groups = {asset["group"] for asset in json.loads(SNAPSHOT.read_text())["assets"].values()}
    folders = {p.name for p in (ROOT / "assets").iterdir() if (p / "definitions.py").exists()}
    assert groups == folders == {"usage", "funding", "exports", "report"}


def test_the_readme_layout_lists_every_module_of_every_domain_folder():
    """The README's layout tree matches the folders: one line per domain, naming its modules."""
    readme = (ROOT / "README.md").read_text()
    tree = readme[readme.index("## Layout"):].split("```")[1]
    for folder in sorted(p for p in (ROOT / "assets").iterdir() if (p / "definitions.py").exists()):
        modules = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        listed = [words[words.index(f"{folder.name}/") + 1:]
                  for words in map(str.split, tree.splitlines())
                  if f"{folder.name}/" in words and words[-1].endswith(".py")]
        assert [set(names) for names in listed] == [modules], (folder.name, listed)


if __name__ == "__main__":
    SNAPSHOT.write_text("\n".join(_text(current())) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")
