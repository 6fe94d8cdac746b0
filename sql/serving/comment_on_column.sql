-- Describe a column of a serving copy's table. Placeholders: table and column, quoted; text, a
-- string literal (COMMENT ON binds no parameters).
COMMENT ON COLUMN {table}.{column} IS {text};
