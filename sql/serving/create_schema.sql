-- Create a schema in an attached database. Placeholder: schema, the quoted database.schema.
CREATE SCHEMA {schema};
