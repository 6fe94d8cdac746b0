-- raw.products (the catalogue) as landed, as one Parquet file for Spark to read ($path,
-- VARCHAR): the category mix and the recommendations' eligibility rule read it. It holds no
-- personal data.
COPY (SELECT * FROM raw.products) TO $path (FORMAT parquet, COMPRESSION zstd);
