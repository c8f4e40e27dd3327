"""Funding: Downcity topups, Stripe payments, the balance ledger and reconciliation.

Payment and balance own funding state (docs/funding.md). This package never
imports dagster; the assets in `assets/funding/` call it.
"""
