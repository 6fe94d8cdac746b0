-- The last day the landed transactions cover: a snapshot is backtested once its 90 days end by
-- then. NULL without transactions (no snapshot is covered).
SELECT max(order_ts)::DATE AS last_day FROM raw.transactions;
