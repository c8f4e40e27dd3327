-- Tables rebuilt whole on every run are emptied first, in the rebuild's transaction.
DELETE FROM {{table}}
