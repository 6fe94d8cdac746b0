"""Which engine an asset computes on: the kinds it shows and the resources it asks for.

The same asset functions serve both engines. A function that can compute on Spark takes a
``spark`` parameter; with ``engine: spark`` that parameter is the run's Spark resource
(``assets.spark.SparkEngine``), with ``engine: duckdb`` Dagster never sees it (the function
gets None) so the DuckDB definitions ask for no Spark resource and import no PySpark.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import dagster as dg

if TYPE_CHECKING:
    from segmentation.config import SegmentationConfig

SPARK = "spark"
SPARK_RESOURCE = "spark"

F = TypeVar("F", bound=Callable[..., Any])


def engine_kinds(kinds: Iterable[str], engine: str) -> set[str]:
    """The kinds an asset shows: ``kinds``, and ``spark`` when Spark computes it."""
    return {*kinds, SPARK} if engine == SPARK else set(kinds)


def spark_lake(settings: SegmentationConfig | None) -> str:
    """The config's lake (``spark.lake``) for an asset computing on Spark.

    Raises:
        dagster.Failure: No lake; the config's own check refuses ``engine: spark`` without
            one, so only a config built around that check gets here.
    """
    if settings is None or settings.spark.lake is None:
        raise dg.Failure("engine: spark needs spark.lake")
    return settings.spark.lake


def on_engine(engine: str, spark_only: tuple[str, ...] = ()) -> Callable[[F], F]:
    """A decorator (under ``@dg.asset``) that makes a function's ``spark`` parameter the Spark
    resource with ``engine: spark``, and hides it from Dagster otherwise.

    Dagster reads an asset's resources from its signature and refuses a decorator's
    ``required_resource_keys`` beside typed resource parameters, so the signature Dagster
    sees is the one the engine needs. ``spark_only`` names further resource parameters only
    the Spark path reads (hidden too otherwise, the function gets their defaults), so the
    DuckDB definitions ask for exactly the resources they asked for before.
    """
    hidden = {SPARK_RESOURCE, *spark_only}

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        if SPARK_RESOURCE not in signature.parameters:
            raise TypeError(f"{function.__name__} takes no {SPARK_RESOURCE} parameter")

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

        annotations = dict(function.__annotations__)
        if engine == SPARK:
            parameters = [
                parameter.replace(annotation=dg.ResourceParam[Any], default=inspect.Parameter.empty)
                if parameter.name == SPARK_RESOURCE
                else parameter.replace(default=inspect.Parameter.empty)
                if parameter.name in hidden
                else parameter
                for parameter in signature.parameters.values()
            ]
            annotations[SPARK_RESOURCE] = dg.ResourceParam[Any]
        else:
            parameters = [p for p in signature.parameters.values() if p.name not in hidden]
            for name in hidden:
                annotations.pop(name, None)
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = annotations
        # functools.wraps points inspect at the original; Dagster must read the new signature
        del wrapper.__wrapped__  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
