-- How many transaction rows have landed: with DuckDB's memory_limit (memory_limit.sql), how
-- many customer buckets the increments query runs in.
SELECT count(*) FROM raw.transactions;
