-- The staged rows as the checks left them: the parse's reason, else the reason a later check
-- (duplicate rows, duplicate customer ids) gave the row in landing_flagged.
CREATE OR REPLACE TEMP VIEW landing_stage AS
SELECT p.* REPLACE (coalesce(p.reason, f.reason) AS reason)
FROM landing_parsed AS p
LEFT JOIN landing_flagged AS f USING (file_seq, source_row);
