-- Values of the key columns <keys> that more than one row of the table <table> has: the first 20,
-- most copies first. A contract's uniqueness checked over the whole table.
SELECT {keys}, count(*) AS copies
FROM {table}
GROUP BY ALL
HAVING count(*) > 1
ORDER BY copies DESC
LIMIT 20;
