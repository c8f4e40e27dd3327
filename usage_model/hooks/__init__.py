"""Hooks: user-owned business rules (pricing, entitlements) configured in city-usage.yaml."""
