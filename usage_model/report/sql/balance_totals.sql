SELECT count(*) AS wallets, coalesce(sum(balance), 0)::BIGINT AS total,
       count(*) FILTER (WHERE balance < 0) AS negative
FROM balances
