-- Set DuckDB's memory limit to $memory_limit (e.g. '4GB'); lowering it evicts cached blocks.
SET memory_limit = $memory_limit;
