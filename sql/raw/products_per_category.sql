-- Products per category of raw.products, for the raw asset's metadata: most products first.
SELECT category, count(*) AS products
FROM raw.products
GROUP BY ALL
ORDER BY products DESC, category;
