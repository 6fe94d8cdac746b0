-- Row count and sum of DuckDB's hash of every row of a table: one parallel scan, independent
-- of row order and storage layout. Placeholder: table, the quoted database.schema.table.
SELECT count(*), sum(hash(t)::HUGEINT)::VARCHAR
FROM {table} AS t;
