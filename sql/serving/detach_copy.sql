-- Detach an attached database, if attached. Placeholder: alias, the quoted name it is attached
-- as.
DETACH DATABASE IF EXISTS {alias};
