-- Advance every customer's attribute state to a snapshot: the latest raw.customer_attributes row
-- per customer with valid_from before $until (TIMESTAMP, exclusive: the day after the snapshot,
-- so a row counts from the end of the snapshot's day on, like a transaction), from the state as
-- of the previous snapshot plus the rows since it ($since: the previous snapshot's $until, NULL
-- for the first). The landing leaves one row per customer and instant (rows that disagree are
-- quarantined), so the latest row is unique and the state is the same whichever snapshots came
-- before: a backfilled month equals the live one. Start from create_attribute_state.sql with
-- $since NULL; drop it with drop_attribute_state.sql.
CREATE OR REPLACE TEMP TABLE _attribute_state AS
WITH changed AS (
    SELECT * EXCLUDE (source_file, source_row)
    FROM raw.customer_attributes
    WHERE valid_from < $until::TIMESTAMP
        AND ($since::TIMESTAMP IS NULL OR valid_from >= $since::TIMESTAMP)
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY valid_from DESC) = 1
)
-- the customers without a row since keep theirs: only the interval's rows are ranked
SELECT * FROM _attribute_state ANTI JOIN changed USING (customer_id)
UNION ALL
SELECT * FROM changed;
