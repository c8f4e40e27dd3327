"""Payment methods: which providers are configured and exposed (never a secret).

The equivalent of Downcity's `guest.service("payment").get("methods")`.
"""

from __future__ import annotations

from usage_model.funding.config import key_livemode
from usage_model.sql import run_sql, run_sql_many


def payment_methods(secret_key: str | None, *, webhook_configured: bool, custom_api_base: bool,
                    currencies: list[str] | None = None) -> list[dict[str, object]]:
    key = secret_key or ""
    mode = key_livemode(key)
    return [{
        "provider": "stripe",
        "configured": bool(key),
        "exposed": bool(key),
        "mode": None if mode is None else ("live" if mode else "test"),
        "webhook_configured": webhook_configured,
        "custom_api_base": custom_api_base,
        "checkout": "stripe_checkout" if key else None,
        "currencies_configured": ",".join(sorted(currencies or [])) or None,
    }]


def write_payment_methods(conn, rows: list[dict[str, object]]) -> None:
    run_sql(conn, __file__, "delete_all", idents={"table": "payment_methods"})
    run_sql_many(conn, __file__, "replace_payment_method", rows)
