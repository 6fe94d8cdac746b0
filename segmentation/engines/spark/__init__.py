"""The Spark engine (``engine: spark``, docs/spark.md): Spark reads, shuffles the rows by
customer bucket and runs the library's own per-customer code on each bucket's Arrow data
inside its tasks (DuckDB and polars on the executors); the steps that need the whole population
are reduce steps on the driver.

:mod:`~segmentation.engines.spark.preflight` and :mod:`~segmentation.engines.spark.session`'s
:func:`~segmentation.engines.spark.session.spark_conf` import no PySpark; every module that
does (session start, buckets, lake, the landing, and one module per table: behaviour,
engagement, clv, segments, strategies) is imported by the Spark path alone;
:mod:`~segmentation.engines.spark.landing_files` (the landing's task) imports none either.
"""
