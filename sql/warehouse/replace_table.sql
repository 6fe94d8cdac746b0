-- Replace a table with every row of a registered view. Placeholders: table, the quoted
-- schema.table; source, the quoted view.
CREATE OR REPLACE TABLE {table} AS SELECT * FROM {source};
