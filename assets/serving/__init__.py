"""The serving copy: the marts, published to a separate DuckDB file that BI tools read."""
