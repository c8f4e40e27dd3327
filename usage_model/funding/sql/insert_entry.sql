INSERT INTO balance_ledger (entry_id, user_id, kind, amount, balance_after, unit, note, ref,
                            metadata_json, created_at, seq, source)
VALUES ($entry_id, $user_id, $kind, $amount, $balance_after, $unit, $note, $ref,
        $metadata_json, $created_at, $seq, $source)
ON CONFLICT (ref) DO NOTHING
