-- One customer bucket's rows of a table, handed to a Spark task as Arrow data (registered as
-- source), under the table's own name (view: raw.transactions, raw.customers...), so the
-- library's SQL reads the bucket as it reads the warehouse. Placeholders: view, source.
CREATE VIEW {view} AS SELECT * FROM {source};
