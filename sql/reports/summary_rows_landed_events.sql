-- Run summary: the rows the last landing put in raw.events, as a row of the rows-landed section;
-- no row when the table is empty (no events source), so the summary stays as it was without one.
SELECT 'raw.events', count(*) FROM raw.events
HAVING count(*) > 0;
