-- Copy a marts table into the serving copy with its ids replaced by their pseudonyms.
-- Placeholders: copy, the quoted table in the serving copy; mart, the quoted marts table; id, the
-- quoted id column; pseudonyms, the quoted temporary id -> pseudonym table.
CREATE TABLE {copy} AS
SELECT t.* REPLACE (p.pseudonym AS {id})
FROM {mart} AS t
LEFT JOIN {pseudonyms} AS p USING ({id});
