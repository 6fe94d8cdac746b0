-- A group-by and a sort of 200,000 rows: any step of a run needs at least this much, so a
-- DuckDB setting (memory_limit, threads) with which this fails is refused when the
-- configuration loads.
SELECT i % 97 AS k, count(*), max(i::VARCHAR)
FROM range(200000) AS t(i)
GROUP BY k
ORDER BY k;
