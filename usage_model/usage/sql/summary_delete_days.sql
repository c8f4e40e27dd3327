-- A daily summary's rows for the window's days (rebuilt in the same transaction).
DELETE FROM {{table}} WHERE day IN (SELECT unnest($days::DATE[]))
