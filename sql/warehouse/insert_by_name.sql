-- Append every row of a registered view to a table, columns matched by name. Placeholders:
-- table, the quoted schema.table; source, the quoted view.
INSERT INTO {table} BY NAME SELECT * FROM {source};
