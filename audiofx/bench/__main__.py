"""``python -m audiofx.bench``: the report (as ``audiofx bench``)."""
import sys

from .cli import main

sys.exit(main(prog="python -m audiofx.bench"))
