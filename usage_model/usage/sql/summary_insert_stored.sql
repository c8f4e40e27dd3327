-- A day's rows of one daily table as a compute step stored them (checked to have the table's
-- columns and types before they get here).
INSERT INTO {{table}} BY NAME SELECT * FROM {{rows}}
