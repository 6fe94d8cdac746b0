-- Describe a serving copy's table. Placeholders: table, quoted; text, a string literal
-- (COMMENT ON binds no parameters).
COMMENT ON TABLE {table} IS {text};
