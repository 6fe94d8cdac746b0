-- The temporary id -> pseudonym table: each distinct id of the published tables with its
-- pseudonym, hashed once per id rather than once per row; binds $inner_key and $outer_key.
-- Placeholders: pseudonyms, the quoted temporary table; id, the quoted id column; pseudonym,
-- the expression of serving/pseudonym.sql; ids, the queries of serving/customer_ids.sql joined
-- by UNION (which also makes the ids distinct).
CREATE OR REPLACE TEMP TABLE {pseudonyms} AS
SELECT {id}, {pseudonym} AS pseudonym
FROM ({ids});
