"""Usage facts: the event model, landing manifest, validation, curated events, summaries."""
