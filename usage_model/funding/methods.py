"""Payment methods: which providers are configured and exposed (never a secret).

The equivalent of Downcity's `guest.service("payment").get("methods")`.
"""

from __future__ import annotations

from usage_model.funding.config import key_livemode


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


_REPLACE = "INSERT OR REPLACE INTO payment_methods VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())"


def write_payment_methods(conn, rows: list[dict[str, object]]) -> None:
    conn.execute("DELETE FROM payment_methods")
    for row in rows:
        conn.execute(_REPLACE, [row["provider"], row["configured"], row["exposed"], row["mode"],
                                row["webhook_configured"], row["custom_api_base"],
                                row["checkout"], row["currencies_configured"]])
