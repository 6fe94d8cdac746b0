-- The syntax tree of a rule as DuckDB's parser sees it, as JSON: $statement (VARCHAR) is the rule
-- written as the statement SELECT <rule>. Parse errors come back inside the JSON.
SELECT json_serialize_sql($statement::VARCHAR)
