"""Billing exports: sinks (files, webhook, Stripe meter events, python), versioned batches and
the export ledger that makes each batch version delivered once."""
