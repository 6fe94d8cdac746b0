-- Create and attach the new serving copy, written in storage format $storage_version.
-- Placeholders: path, the new file as a string literal (ATTACH binds no parameter for it);
-- alias, the quoted name it is attached as.
ATTACH {path} AS {alias} (STORAGE_VERSION $storage_version);
