-- Run summary: the rows the last landing put in each raw table.
SELECT 'raw.transactions', count(*) FROM raw.transactions
UNION ALL
SELECT 'raw.customers', count(*) FROM raw.customers;
