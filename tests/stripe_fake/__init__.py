"""A local Stripe-compatible server for tests (see README.md)."""

from tests.stripe_fake.server import API_VERSION, FakeStripe

__all__ = ["API_VERSION", "FakeStripe"]
