-- One customer bucket of the transactions up to the last snapshot's end, written once so that
-- the increments query reads it three times (days, orders, products) instead of scanning all of
-- raw.transactions three times per bucket. Parameters: $snapshot_dates (DATE[]),
-- $customer_buckets (INTEGER > 1), $customer_bucket (INTEGER, 0 .. $customer_buckets - 1).
CREATE OR REPLACE TEMP TABLE _customer_bucket_transactions AS
SELECT customer_id, order_id, order_ts, amount, product_id, channel, is_return
FROM raw.transactions
WHERE order_ts < (list_max($snapshot_dates::DATE[]) + 1)::TIMESTAMP
    AND hash(customer_id) % $customer_buckets::UBIGINT = $customer_bucket::UBIGINT;
