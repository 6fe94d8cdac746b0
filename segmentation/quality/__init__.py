"""Checks of the warehouse's tables: contracts validated over whole tables, and the drift of the
newest snapshot against the one before. Plain results; the asset checks report them."""
