"""Where the pipeline computes: the embedded DuckDB engine (the default) or Apache Spark
(``engine: spark``, :mod:`segmentation.engines.spark`; see docs/spark.md).

Nothing here imports PySpark: the default engine never loads it, nor starts Java.
"""
