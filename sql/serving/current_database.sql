-- The name of the database the connection opened.
SELECT current_database();
