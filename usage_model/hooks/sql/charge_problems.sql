-- Counts of rule-breaking charges for a period (all zero when the charges are sound): a null
-- amount must say why, refs are unique across periods, amounts are never negative.
SELECT count(*) FILTER (WHERE period = $period AND amount_credits IS NULL
                               AND coalesce(reason, '') = '') AS null_amount_without_reason,
       (SELECT count(*) FROM (SELECT ref FROM charges GROUP BY ref HAVING count(*) > 1))
           AS duplicate_refs,
       count(*) FILTER (WHERE period = $period AND amount_credits < 0) AS negative_amounts
FROM charges
