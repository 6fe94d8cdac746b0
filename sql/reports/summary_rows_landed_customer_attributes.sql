-- Run summary: the rows the last landing put in raw.customer_attributes, as a row of the
-- rows-landed section; no row when the table is empty (no attribute history source), so the
-- summary stays as it was without one.
SELECT 'raw.customer_attributes', count(*) FROM raw.customer_attributes
HAVING count(*) > 0;
