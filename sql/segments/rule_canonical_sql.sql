-- A checked syntax tree turned back into SQL text: $tree (JSON) holds one SELECT statement. Its
-- canonical text is what runs, so comments or trailing text in a rule's source cannot change it.
SELECT json_deserialize_sql($tree::JSON)
