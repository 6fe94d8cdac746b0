-- Run summary: the rows the last landing put in raw.feedback, as a row of the rows-landed
-- section; no row when the table is empty (no feedback source), so the summary stays as it was
-- without one.
SELECT 'raw.feedback', count(*) FROM raw.feedback
HAVING count(*) > 0;
