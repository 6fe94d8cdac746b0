-- An expression, not a statement: the pseudonym of an id, the first hex characters of
-- HMAC-SHA256 (RFC 2104) of its UTF-8 text, given the padded keys $inner_key and $outer_key.
-- encode takes the text's UTF-8 bytes (a ::BLOB cast would interpret backslash escapes).
-- Placeholders: column, the quoted id column; length, the number of hex characters kept.
left(sha256($outer_key || unhex(sha256($inner_key || encode({column}::VARCHAR)))), {length})
