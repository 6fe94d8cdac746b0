-- Mark a database as a serving copy: a macro returning the marker JSON, with a comment for
-- people who list the functions. Placeholders: macro, the quoted database.schema.name; marker
-- and comment, string literals (macro bodies and comments bind no parameters).
CREATE MACRO {macro}() AS {marker};
COMMENT ON MACRO {macro} IS {comment};
