-- How many product ids raw.products holds more than once (its landing keeps them unique; a
-- repeated id would count a transaction in two categories).
SELECT count(*) FROM (
    SELECT product_id FROM raw.products GROUP BY product_id HAVING count(*) > 1
);
