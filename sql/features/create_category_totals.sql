-- The empty running totals of the category window per customer and category, advanced by
-- category_totals.sql from snapshot 1 on.
CREATE OR REPLACE TEMP TABLE _category_totals (
    customer_id VARCHAR,
    category VARCHAR,
    spend DECIMAL(38, 10),
    core_spend DECIMAL(38, 10),
    basic_spend DECIMAL(38, 10),
    orders BIGINT,
    lines BIGINT
);
