"""The files the library reads at run time that are not Python: ``sql/`` and ``config/``.

The repository keeps one copy of each, at its root beside the packages. An installed wheel has no
repository around it, so the wheel carries the same files inside the package, under
``segmentation/_bundled/`` (``[tool.hatch.build.targets.wheel]`` in pyproject.toml).
:data:`BUNDLED_ROOT` is that folder in an installed wheel and the repository root in a checkout
(an editable install included), so the same relative path (``sql/raw/landing_counts.sql``,
``config/playbook.yaml``) names the file in both.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# the folder of the package the wheel puts them in ([tool.hatch.build.targets.wheel.sources])
PACKAGED_FOLDER = "_bundled"


def _bundled_root() -> Path:
    # installed from a wheel, segmentation/ lies in site-packages with the files inside it; a
    # checkout has no such folder, since only a wheel build moves them there
    package = Path(str(files("segmentation"))).resolve()
    packaged = package / PACKAGED_FOLDER
    return packaged if packaged.is_dir() else package.parent


BUNDLED_ROOT = _bundled_root()


def bundled_path(relative_path: str) -> Path:
    """The path of a bundled file, e.g. ``bundled_path("config/demo.yaml")``.

    The file is not checked to exist: each reader reports a missing file in its own terms.
    """
    return BUNDLED_ROOT / relative_path
