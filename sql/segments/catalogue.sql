-- The catalogue columns the recommendations' eligibility rule may use (as product_*), one row
-- per product id.
SELECT product_id, category, subcategory, price_level, need_level, risk_level
FROM raw.products
ORDER BY product_id;
