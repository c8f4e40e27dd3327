-- Downcity's ledger as the wallet of record: each entry mirrored once, in Downcity's order.
INSERT INTO balance_ledger (entry_id, user_id, kind, amount, balance_after, unit, note, ref,
                            metadata_json, created_at, seq, source, source_ref)
SELECT entry_id, user_id, kind, credits_delta,
       coalesce(credits_after, sum(credits_delta) OVER (
           PARTITION BY user_id ORDER BY created_at NULLS FIRST, entry_id
           ROWS UNBOUNDED PRECEDING))::BIGINT,
       'credits', note, 'downcity:' || entry_id, metadata_json, coalesce(created_at, $now),
       row_number() OVER (ORDER BY created_at NULLS FIRST, entry_id), 'downcity', ref
FROM downcity_ledger
