-- One file of the landing being staged: its number ($file_seq) and its path ($source_file).
INSERT INTO landing_files VALUES ($file_seq, $source_file);
