-- Copy a marts table whole into the serving copy. Placeholders: copy, the quoted table in the
-- serving copy; mart, the quoted marts table.
CREATE TABLE {copy} AS SELECT * FROM {mart};
