-- A hook table's rows for one period, replaced in the caller's transaction.
DELETE FROM {{table}} WHERE period = $period
