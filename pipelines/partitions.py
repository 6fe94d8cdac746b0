"""The monthly snapshot partitions of the config on the command line:
``python -m pipelines.partitions [--range]``."""

from __future__ import annotations

import argparse

from rich.console import Console

from assets.partitions import monthly_snapshots
from segmentation.config import load_config


def _main() -> None:
    parser = argparse.ArgumentParser(description="Monthly snapshot partitions of the config.")
    parser.add_argument("--range", action="store_true", help="print FIRST...LAST")
    args = parser.parse_args()
    keys = monthly_snapshots(load_config()).get_partition_keys()
    out = Console(highlight=False, soft_wrap=True)
    if args.range:
        out.print(f"{keys[0]}...{keys[-1]}")
    else:
        out.print("\n".join(keys))


if __name__ == "__main__":
    _main()
