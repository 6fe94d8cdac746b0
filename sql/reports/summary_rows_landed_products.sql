-- Run summary: the rows the last landing put in raw.products, as a row of the rows-landed
-- section; no row when the table is empty (no products source), so the summary stays as it was
-- without one.
SELECT 'raw.products', count(*) FROM raw.products
HAVING count(*) > 0;
