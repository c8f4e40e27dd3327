-- What the standalone (Stripe-derived) ledger has credited or taken back ($kinds: the
-- funding kinds of rules.FUNDING_KINDS).
SELECT kind, user_id, amount, metadata_json FROM balance_ledger
WHERE kind IN (SELECT unnest($kinds::VARCHAR[])) AND source <> 'downcity'
ORDER BY seq
