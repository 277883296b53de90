"""The targets of DESIGN §6, and how a measured ratio is judged against them."""
from __future__ import annotations

from typing import NamedTuple


class Target(NamedTuple):
    """A speed target: ``kind`` "faster" means ``baseline / subject >= bound``, "within" means
    ``subject / baseline <= bound`` (both as ratios of times per call)."""
    op: str
    baseline: str
    kind: str
    bound: float
    subject: str = "audiofx"

    @property
    def num(self) -> str:
        """The implementation whose time is the ratio's numerator."""
        return self.baseline if self.kind == "faster" else self.subject

    @property
    def den(self) -> str:
        return self.subject if self.kind == "faster" else self.baseline

    def holds(self, ratio: float) -> bool:
        """Whether ``ratio`` (time of :attr:`num` over time of :attr:`den`) meets the bound."""
        if self.kind == "faster":
            return ratio >= self.bound
        if self.kind == "within":
            return ratio <= self.bound
        raise ValueError(f"Target.kind must be 'faster' or 'within', got {self.kind!r}")

    def describe(self) -> str:
        """``"librosa / audiofx >= 50x"``."""
        op = ">=" if self.kind == "faster" else "<="
        return f"{self.num} / {self.den} {op} {self.bound:g}x"


#: DESIGN §6 on its two workloads (N = n_fft = 2048, H = 512).
TARGETS = (
    Target("frame_features", "librosa", "faster", 50.0),
    Target("frame_features", "torch", "faster", 3.0),
    Target("frame_features", "dot", "within", 2.0),
    Target("centroid+bandwidth", "librosa", "faster", 5.0),
    Target("centroid+bandwidth", "torch", "faster", 2.0),
    Target("centroid+bandwidth", "rfft", "within", 1.5),
)
