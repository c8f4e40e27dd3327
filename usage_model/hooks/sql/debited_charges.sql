-- What the ledger has debited for each charge of a period (first debit plus adjustments).
SELECT json_extract_string(metadata_json, '$.charge_ref') AS charge_ref,
       any_value(user_id), (-sum(amount))::BIGINT AS debited, count(*) AS entries
FROM balance_ledger
WHERE kind = 'charge' AND json_extract_string(metadata_json, '$.period') = $period_key
GROUP BY 1
