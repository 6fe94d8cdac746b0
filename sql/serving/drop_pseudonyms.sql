-- Drop the temporary id -> pseudonym table, if any. Placeholder: pseudonyms, its quoted name.
DROP TABLE IF EXISTS temp.{pseudonyms};
