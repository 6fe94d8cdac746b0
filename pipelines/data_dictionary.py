"""`python -m pipelines.data_dictionary`: the serving copy's data dictionary as markdown.

The README's "Data dictionary" section is this output (a test keeps them equal).
"""

import sys

from segmentation.serving.dictionary import data_dictionary_markdown


def _main() -> None:
    sys.stdout.write(data_dictionary_markdown())


if __name__ == "__main__":
    _main()
