-- Entries of the wallet of record that can name a topup (credits and reversals).
SELECT entry_id, kind, amount, user_id, created_at, note, coalesce(source_ref, ref),
       metadata_json
FROM balance_ledger WHERE kind IN ('topup', 'sub', 'refund', 'refund_reversal', 'dispute',
                                   'dispute_reversal')
ORDER BY seq
