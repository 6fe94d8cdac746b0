-- The customer bucket of each row of one Arrow batch of a Spark task (_bucket_batch), in row
-- order: the hash of the customer id modulo the bucket count, as features/customer_bucket_files.sql
-- splits the DuckDB engine's transactions, so a Spark bucket holds the customers of the same
-- DuckDB bucket. BIGINT: Spark has no unsigned type.
-- Parameters: $customer_buckets (INTEGER >= 1).
SELECT (hash(customer_id) % $customer_buckets::UBIGINT)::BIGINT AS customer_bucket
FROM _bucket_batch;
