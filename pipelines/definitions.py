"""The Dagster code location: every asset, check, job, schedule and sensor of the pipeline.

``defs`` wires the config named by ``$SEGMENTATION_CONFIG`` (default: the bundled demo config), so
``dagster dev`` and ``dagster asset materialize -m pipelines.definitions`` load it. A config error
stops here, before any run, with a message naming the key or path: on the command line the
message alone (no traceback, see ``segmentation.config.print_config_errors_alone``), in the UI of
``dagster dev`` as the code location's load error.
"""

from pipelines.build_definitions import build_definitions
from segmentation.config import load_config

defs = build_definitions(load_config())
