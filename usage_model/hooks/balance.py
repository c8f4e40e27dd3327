"""`apply_to_balance: true`: debit a period's charges into `balance_ledger`.

The first debit of a charge uses the charge's `ref` as its ledger ref (kind `charge`, negative
amount), so it happens once whatever the number of runs. When a rebuilt period changes a
charge (late usage), one adjustment entry `<ref>:adj<n>` settles the difference; a charge that
disappeared is credited back the same way. Unpriced (null) and anonymous charges move no money.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from usage_model.funding.ledger import LedgerEntry, append_entries
from usage_model.hooks.protocol import Period
from usage_model.sql import run_sql


@dataclass(frozen=True)
class DebitResult:
    appended: int
    debited_credits: int    # net credits taken from balances by this run
    skipped_unpriced: int


def debit_charges(conn: duckdb.DuckDBPyConnection, period: Period) -> DebitResult:
    debited = {ref: (user, total, n) for ref, user, total, n in
               run_sql(conn, __file__, "debited_charges", period_key=period.key).fetchall()}
    charges = run_sql(conn, __file__, "priced_charges", period=period.start).fetchall()
    skipped = run_sql(conn, __file__, "unpriced_charges", period=period.start).fetchall()[0][0]
    targets = {ref: (user, amount, text) for ref, user, amount, text in charges}
    entries: list[LedgerEntry] = []
    for ref in sorted(set(targets) | set(debited)):
        user, target, text = targets.get(ref, (debited.get(ref, (None,))[0], 0, "withdrawn"))
        _, done, n = debited.get(ref, (user, 0, 0))
        if target == done:
            continue
        entries.append(LedgerEntry(
            user_id=user, kind="charge", amount=-(target - done),
            ref=ref if n == 0 else f"{ref}:adj{n}",
            note=(text or "")[:200],
            metadata_json=json.dumps({"charge_ref": ref, "period": period.key}),
        ))
    appended = append_entries(conn, entries)
    return DebitResult(appended=appended, debited_credits=-sum(e.amount for e in entries),
                       skipped_unpriced=skipped)
