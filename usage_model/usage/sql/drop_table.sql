-- A temp table a build made for itself, dropped once its transaction is over.
DROP TABLE IF EXISTS {{table}}
