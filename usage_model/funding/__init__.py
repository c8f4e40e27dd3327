"""Funding: Downcity topups, Stripe payments, the balance ledger and reconciliation.

Payment and balance own funding state (DESIGN.md "Balance and funding"). This package never
imports dagster; the assets in `assets/funding/` call it.
"""
