"""Targets and the markdown table of a run's results (the README tables are cut from it)."""

from __future__ import annotations

import json
from pathlib import Path

READ_BENCH = Path(__file__).parent / "results" / "read_bench.json"


def read_bench_figure() -> dict | None:
    """The 100M-event read figure of `read_bench.py` (its own, longer run)."""
    if not READ_BENCH.exists():
        return None
    full = json.loads(READ_BENCH.read_text())
    return {k: full[k] for k in ("history_events", "month_events", "preaggregate_ms",
                                 "events_ms", "speedup_p50") if k in full}


def targets(out: dict) -> dict:
    met: dict[str, dict] = {}
    if out.get("scales"):
        # The worst scale decides; every scale's ratio is kept beside it.
        step = {s["events"]: s["summaries"]["step_vs_fastest"] for s in out["scales"]}
        pandas = {s["events"]: s["summaries"]["pandas_vs_step"] for s in out["scales"]}
        met["summary_within_1.1x_of_fastest"] = {"value": max(step.values()), "per_scale": step,
                                                 "met": max(step.values()) <= 1.1}
        met["summary_5x_faster_than_pandas"] = {"value": min(pandas.values()),
                                                "per_scale": pandas,
                                                "met": min(pandas.values()) >= 5}
        met["baselines_agree"] = {"value": all(s["summaries"]["all_equal"]
                                               for s in out["scales"]), "met": None}
        met["baselines_agree"]["met"] = met["baselines_agree"]["value"]
    if out.get("incremental"):
        growth = out["incremental"]["growth_1_to_90"]
        met["new_day_flat_within_10pct"] = {"value": growth, "met": abs(growth) <= 0.10}
        p95 = out["incremental"]["reads"]["preaggregate_ms"]["p95"]
        met["summary_p95_under_50ms"] = {"value": p95, "met": p95 < 50}
    if out.get("end_to_end"):
        ratio = out["end_to_end"]["materialize_vs_polars"]
        met["materialize_within_1.5x_of_polars"] = {"value": ratio, "met": ratio <= 1.5}
        share = out["end_to_end"]["ingest_vs_copy"]
        met["ingest_at_least_0.4x_copy"] = {"value": share, "met": (share or 0) >= 0.4}
        rate = out["end_to_end"]["ingest_events_per_s"]
        met["ingest_at_least_1M_events_per_s"] = {"value": rate, "met": (rate or 0) >= 1_000_000}
    if out.get("history"):
        growth = out["history"]["growth_1_to_365_cpu"]
        met["new_day_flat_1_to_365_within_10pct"] = {
            "value": growth, "wall": out["history"]["growth_1_to_365_wall"],
            "met": abs(growth) <= 0.10}
    if out.get("memory"):
        rss = out["memory"]["peak_rss_mb"]
        met["big_day_peak_rss_under_2GB"] = {"value": rss, "events": out["memory"]["events"],
                                             "met": rss < 2048}
    if out.get("big_run"):
        big = out["big_run"]
        met["hundred_million_run_peak_rss_under_4GB"] = {
            "value": big["peak_rss_mb"], "events": big["landed_rows"],
            "largest_spill_mb": big["largest_spill_mb"], "met": big["peak_rss_mb"] < 4096}
    return met


def _x(value: float) -> str:
    return f"{value:.2f}×"


def _secs(result: dict) -> str:
    return "out of memory" if "error" in result else f"{result['wall_s']:.2f} s"


def _compute(summary: dict, ratio: bool = False) -> str:
    if "compute_only_s" not in summary:
        return "–"
    if ratio:
        return _x(summary["compute_vs_fastest"])
    return f"{summary['compute_only_s']:.2f} s"


def _mb(result: dict) -> str:
    return f"{result['peak_rss_mb']:.0f}"


def end_to_end_lines(e: dict) -> list[str]:
    m, p, c = e["materialize"], e["naive_polars"], e["copy"]
    return [
        f"End to end, {e['days']} days × {e['events_per_day']:,} events "
        f"({e['landed_rows']:,} landed rows, ~1% identical copies, random ids):", "",
        "| | wall | CPU | peak RSS | load |", "|---|---|---|---|---|",
        f"| `city-usage materialize` | {m['wall_s']:.1f} s | {m.get('cpu_s', 0):.1f} s | "
        f"{m['peak_rss_mb']:.0f} MB | {m['load_avg_1m']:.1f} |",
        f"| naive polars script | {p['process_s']:.1f} s | {p.get('cpu_s', 0):.1f} s | "
        f"{p['peak_rss_mb']:.0f} MB | {p['load_avg_1m']:.1f} |",
        f"| DuckDB Parquet copy | {c['wall_s']:.1f} s | {c.get('cpu_s', 0):.1f} s | "
        f"{c['peak_rss_mb']:.0f} MB | {c['load_avg_1m']:.1f} |", "",
        f"materialize / polars: {e['materialize_vs_polars']}× wall, "
        f"{e.get('materialize_vs_polars_cpu', '–')}× CPU; ingest step "
        f"{e['steps'].get('build_usage_events', 0):.1f} s = {e['ingest_events_per_s']:,} events/s, "
        f"{e['ingest_vs_copy']}× the copy's {e['copy_events_per_s']:,} events/s; "
        f"summaries agree with polars: {p['same_totals']}.", ""]


def markdown(out: dict) -> str:
    m = out["machine"]
    lines = [f"Machine: {m['cpus']} cores, {m['memory_gib']} GiB; duckdb {m['duckdb']}; "
             f"DuckDB memory_limit {out['memory_limit']}; load average at start "
             f"{out['load_avg_start'][0]:.2f}.", ""]
    if out.get("scales"):
        lines += ["| events | pipeline summary step | process | compute only | DuckDB SQL | "
                  "polars | pandas | step / fastest | compute / fastest | pandas / step | "
                  "ingest ev/s (step) | copy ev/s | ingest / copy | "
                  "peak RSS ingest / summary / duckdb / polars / pandas | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in out["scales"]:
            su, ing, b = s["summaries"], s["ingest"], s["summaries"]["baselines"]
            lines.append(
                f"| {s['events']:,} | {su['pipeline_step_s']:.2f} s | "
                f"{su['pipeline_process_s']:.1f} s | {_compute(su)} | {_secs(b['duckdb'])} | "
                f"{_secs(b['polars'])} | {_secs(b['pandas'])} | "
                f"{_x(su['step_vs_fastest'])} | {_compute(su, ratio=True)} | "
                f"{su['pandas_vs_step']:.1f}× | "
                f"{ing['pipeline_events_per_s']:,} | {ing['copy_events_per_s']:,} | "
                f"{_x(ing['step_vs_copy'])} | {ing['pipeline_peak_rss_mb']:.0f} / "
                f"{su['pipeline_peak_rss_mb']:.0f} / {_mb(b['duckdb'])} / "
                f"{_mb(b['polars'])} / {_mb(b['pandas'])} MB | "
                f"{su['load_avg_1m']:.1f} |")
        lines.append("")
    if out.get("incremental"):
        inc = out["incremental"]
        lines += [f"Adding one day of {inc['events_per_day']:,} events:", "",
                  "| days of history | usage_events step | summaries step | both | process | "
                  "peak RSS | load |", "|---|---|---|---|---|---|---|"]
        for p in inc["points"]:
            lines.append(f"| {p['history_days']} | {p['events_step_s']:.2f} s | "
                         f"{p['summaries_step_s']:.2f} s | {p['steps_s']:.2f} s | "
                         f"{p['process_s']:.1f} s | {p['peak_rss_mb']:.0f} MB | "
                         f"{max(p['load_avg_1m']):.1f} |")
        lines += ["", f"Growth from 1 to 90 days of history: {inc['growth_1_to_90']:+.1%}.", ""]
        r = inc["reads"]
        lines += [f"`summary` by model over {r['month']} ({r['month_events']:,} events): "
                  f"pre-aggregates p50 {r['preaggregate_ms']['p50']} ms / p95 "
                  f"{r['preaggregate_ms']['p95']} ms; raw events p50 {r['events_ms']['p50']} ms"
                  f" / p95 {r['events_ms']['p95']} ms; same answer: {r['same_answer']}.", ""]
    if out.get("read_bench_100m"):
        r = out["read_bench_100m"]
        lines += [f"(read_bench.py, {r['history_events']:,} events of history: pre-aggregates "
                  f"p50 {r['preaggregate_ms']['p50']} ms / p95 {r['preaggregate_ms']['p95']} ms "
                  f"against {r['events_ms']['p50']} ms from events.)", ""]
    if out.get("backfill"):
        b = out["backfill"]
        lines += [f"Backfill of {b['days']} days × {b['events_per_day']:,} events: one run "
                  f"{b['one_run']['process_s']:.1f} s (steps {b['one_run']['steps_s']:.1f} s) "
                  f"against {b['days']} runs {b['per_day_runs']['process_s']:.1f} s (steps "
                  f"{b['per_day_runs']['steps_s']:.1f} s): {b['per_day_vs_one_run']}×.", ""]
    if out.get("memory"):
        mm = out["memory"]
        lines += [f"One day of {mm['events']:,} events through the pipeline: peak RSS "
                  f"{mm['peak_rss_mb']:.0f} MB, process {mm['process_s']:.1f} s "
                  f"(load {mm['load_avg_1m']:.1f}).", ""]
    if out.get("big_run"):
        big = out["big_run"]
        lines += [f"{big['landed_rows']:,} events ({big['days']} days) scanned and built in one "
                  f"run: process {big['process_s']:.1f} s (scan {big['scan_s']:.1f} s, build "
                  f"{big['build_s']:.1f} s), CPU {big['cpu_s']:.1f} s, peak RSS "
                  f"{big['peak_rss_mb']:.0f} MB, largest DuckDB spill "
                  f"{big['largest_spill_mb']:.0f} MB (load {big['load_avg_1m']:.1f}).", ""]
    if out.get("end_to_end"):
        lines += end_to_end_lines(out["end_to_end"])
    if out.get("history"):
        h = out["history"]
        lines += [f"A new day of {h['events_per_day']:,} events against a synthetic history of "
                  f"{h['history_per_day']:,} ids a day (median of the new days):", "",
                  "| history days | index rows | segments | wall | CPU | scan wall | load |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {p['history_days']} | {p['index_rows']:,} | {p['segments']} | "
                  f"{p['wall_s']:.2f} s | {p['cpu_s']:.2f} s | {p['scan_s']:.2f} s | "
                  f"{', '.join(f'{v:.1f}' for v in p['load_avg_1m'])} |" for p in h["points"]]
        lines.append("")
    lines += ["| target | value | met |", "|---|---|---|"]
    for name, t in out.get("targets", {}).items():
        lines.append(f"| {name} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


def main() -> None:
    """Print the tables of `results/latest.json` (or of the file given)."""
    import sys

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else READ_BENCH.parent / "latest.json"
    out = json.loads(path.read_text())
    out["targets"] = targets(out)  # today's list of targets, for older files too
    print(markdown(out))


if __name__ == "__main__":
    main()
