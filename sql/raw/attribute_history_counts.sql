-- What raw.customer_attributes holds, for the raw asset's metadata: rows, distinct customers,
-- the rows per customer (the first row and each change after it: mean, median, most) and the
-- span of valid_from.
SELECT
    coalesce(sum(rows), 0)::BIGINT AS history_rows,
    count(*) AS customers,
    coalesce(avg(rows), 0)::DOUBLE AS rows_per_customer_mean,
    coalesce(median(rows), 0)::DOUBLE AS rows_per_customer_median,
    coalesce(max(rows), 0)::BIGINT AS rows_per_customer_max,
    min(first_valid_from) AS first_valid_from,
    max(last_valid_from) AS last_valid_from
FROM (
    SELECT customer_id, count(*) AS rows,
        min(valid_from) AS first_valid_from, max(valid_from) AS last_valid_from
    FROM raw.customer_attributes
    GROUP BY customer_id
);
