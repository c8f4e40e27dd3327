"""Property: any duplication, splitting and reordering of landed Downcity exports and of Stripe
events (landed as webhook files, consumed in any number of runs) gives the same verdicts."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.funding.conftest import NOW
from tests.funding.downcity_scenario import EXPECTED, exports, stripe_side
from tests.funding.downcity_shapes import current_table, write
from tests.stripe_fake import FakeStripe
from tests.stripe_fake.server import dumps
from usage_model.funding import downcity
from usage_model.funding.config import FundingConfig
from usage_model.funding.reconcile import reconcile
from usage_model.funding.report import build_report
from usage_model.funding.sync import consume_landed
from usage_model.funding.webhook import land_event
from usage_model.warehouse import ensure_schema


@functools.cache
def story() -> tuple[tuple[dict, ...], dict[str, tuple[str, int]]]:
    fake = FakeStripe()  # scenario methods only: no HTTP needed
    sessions = stripe_side(fake)
    expected = {f"stripe:{sessions['t_ok#2']}" if k == "second t_ok payment" else k: v
                for k, v in EXPECTED.items()}
    return tuple(fake.events), expected


@st.composite
def landed_files(draw: st.DrawFn) -> list[tuple[str, list[dict]]]:
    """Each export's rows shuffled, split over files, with some rows repeated in extra files."""
    files = []
    for folder, rows in exports().items():
        shuffled = draw(st.permutations(rows))
        cuts = sorted(draw(st.lists(st.integers(1, len(shuffled)), max_size=2)))
        for start, end in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
            if shuffled[start:end]:
                files.append((folder, list(shuffled[start:end])))
        again = draw(st.lists(st.sampled_from(rows), max_size=4))
        if again:
            files.append((folder, again))
    return draw(st.permutations(files))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_duplication_and_order_of_exports_and_events_gives_the_same_verdicts(data):
    events, expected = story()
    delivered = data.draw(st.lists(st.sampled_from(events), max_size=10).map(
        lambda extra: list(events) + extra).flatmap(st.permutations))
    files = data.draw(landed_files())
    runs = data.draw(st.integers(1, 3))
    with tempfile.TemporaryDirectory() as tmp:
        balance, events_dir = Path(tmp) / "balance", Path(tmp) / "events"
        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
        ensure_schema(conn)
        for run in range(runs):
            for i in range(run, len(files), runs):
                folder, rows = files[i]
                write(balance, folder, current_table(folder, rows), f"part-{i:03d}.parquet")
            for event in delivered[run::runs]:
                land_event(events_dir, event["id"], dumps(event).encode())
            downcity.load(conn, balance, NOW)
            consume_landed(conn, events_dir, source=None, now=NOW)
            reconcile(conn, FundingConfig(), key_livemode=False, now=NOW)
            build_report(conn, FundingConfig(), now=NOW)
        got = {k: (v, s) for k, v, s in conn.execute(
            "SELECT report_key, verdict, credits_at_stake FROM reconciliation_report"
        ).fetchall()}
        assert got == expected
        assert conn.execute("SELECT count(*) FROM downcity_rejects").fetchall() == [(0,)]
