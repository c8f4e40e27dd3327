SELECT count(*) FROM charges WHERE period = $period AND amount_credits IS NULL
