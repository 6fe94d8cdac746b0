-- The list of rows needing their text is done with once landing_raw holds the text.
DROP TABLE landing_raw_needed;
