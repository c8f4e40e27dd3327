-- A monthly rollup's rows for one month (rebuilt in the same transaction).
DELETE FROM {{table}} WHERE period = $period
