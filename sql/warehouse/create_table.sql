-- Create a table from every row of a registered view. Placeholders: table, the quoted
-- schema.table; source, the quoted view.
CREATE TABLE {table} AS SELECT * FROM {source};
