-- raw.transactions as landed, as one Parquet file for Spark to read ($path, VARCHAR): the
-- bridge from the DuckDB landing to the Spark engine until Spark lands the sources itself.
COPY (SELECT * FROM raw.transactions) TO $path (FORMAT parquet, COMPRESSION zstd);
