SELECT count(*) FROM balance_ledger WHERE source = 'downcity'
