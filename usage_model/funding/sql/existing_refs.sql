SELECT ref FROM balance_ledger WHERE ref IN (SELECT unnest($refs::VARCHAR[]))
