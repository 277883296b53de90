"""``python -m benchmarks.report``: the DESIGN §6 benchmark report from a checkout.

The code lives in :mod:`audiofx.bench` (so that ``audiofx bench`` works from an installed
package); this entry point only changes the default paths to this folder:
``--write-results`` writes ``benchmarks/RESULTS.md`` and the plot goes to
``benchmarks/time_vs_length.png``.

    python -m benchmarks.report                    # ~3 minutes; prints the markdown report
    python -m benchmarks.report --write-results    # and commits-ready benchmarks/RESULTS.md
    python -m benchmarks.report --full             # also the spectral sweep (longer)
"""
from __future__ import annotations

import os
import sys

from audiofx import bench

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    return bench.main(argv, prog="python -m benchmarks.report",
                      png_default=os.path.relpath(os.path.join(HERE, "time_vs_length.png")),
                      results_default=os.path.relpath(os.path.join(HERE, "RESULTS.md")))


if __name__ == "__main__":
    sys.exit(main())
