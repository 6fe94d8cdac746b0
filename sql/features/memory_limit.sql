-- DuckDB's memory_limit as it reports it (e.g. '3.7 GiB'), which sizes the customer buckets of
-- the increments query.
SELECT current_setting('memory_limit');
