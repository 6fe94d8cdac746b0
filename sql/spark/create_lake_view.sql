-- A table of the lake as the serving publish copies it. Placeholders: view, the quoted view;
-- columns, each column of the table's schema file cast to its type, in its order; files, the
-- list of the Parquet files as quoted literals (listed once, so every read of the view sees
-- the same files); hive, true for partition files (the partition column comes from their
-- folder's name) or false for the schema file.
CREATE VIEW {view} AS
SELECT {columns}
FROM read_parquet({files}, hive_partitioning = {hive}, union_by_name = true);
