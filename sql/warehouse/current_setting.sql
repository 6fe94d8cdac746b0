-- The current value of the DuckDB setting $name, as DuckDB reports it.
SELECT current_setting($name);
