-- Advance every customer's running feedback totals (_feedback_totals) to snapshot $j (INTEGER,
-- 1-based): the totals as of snapshot j - 1 plus what feedback_increments.sql adds at j; the
-- latest NPS answer of increment j, if any, is later than the one before. Start with j = 1 on
-- the empty table of create_engagement_totals.sql.
CREATE OR REPLACE TEMP TABLE _feedback_totals AS
SELECT customer_id,
    coalesce(t.csat_sum, 0) + coalesce(i.csat_sum, 0) AS csat_sum,
    coalesce(t.csat_answers, 0) + coalesce(i.csat_answers, 0) AS csat_answers,
    coalesce(t.complaints, 0) + coalesce(i.complaints, 0) AS complaints,
    greatest(t.last_feedback, i.last_feedback) AS last_feedback,
    coalesce(i.latest_nps, t.latest_nps) AS latest_nps
FROM _feedback_totals AS t
FULL JOIN (SELECT * FROM _feedback_increments WHERE j = $j) AS i USING (customer_id);
