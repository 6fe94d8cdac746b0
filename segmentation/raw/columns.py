"""The bookkeeping columns a source row carries besides its own values.

Every parsed row names where it came from (``source_file``, ``source_row``) and carries a 64-bit
hash of its original values (``row_hash``); a row that may be quarantined also gets its original
values as JSON text (``raw_values``, and ``masked_values`` with personal values masked).
"""

from __future__ import annotations

SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
RAW_VALUES = "raw_values"
MASKED_VALUES = "masked_values"
ROW_HASH = "row_hash"
# the column of a numbered copy of a CSV file that carries each record's number in its source
# file (see ``segmentation.raw.csv_records.prepare_csv``)
ROW_NUMBER = "__source_row__"
# the columns a scan adds to a source's own
BOOKKEEPING = frozenset({SOURCE_FILE, SOURCE_ROW})
