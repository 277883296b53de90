"""The targets of DESIGN §6 and issue 12, and how a measured ratio is judged against them."""
from __future__ import annotations

from typing import Dict, NamedTuple


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

#: Issue 12, for every frame/hop geometry: frame_features within 2x of the dot floor and at
#: least 20x faster than librosa's rms + zcr + max of frames.
GEOMETRY_TARGETS = (
    Target("frame_features", "dot", "within", 2.0),
    Target("frame_features", "librosa", "faster", 20.0),
)

#: Issue 12 / DESIGN §6: a call with ``lengths=`` (subject) against the plain call (baseline).
LENGTHS_TARGETS: Dict[str, Target] = {
    op: Target(op, "plain", "within", bound, subject="lengths=")
    for op, bound in (("frame_features", 1.15), ("centroid+bandwidth", 1.15),
                      ("frame", 1.3), ("stft", 1.3))
}

#: Issue 13: the multi-resolution STFT loss's forward + backward at least 2x faster than the
#: same loss on ``torch.stft``.
LOSS_TARGET = Target("mrstft loss", "torch.stft", "faster", 2.0)

#: Peak extra memory of one call: below MEMORY_FACTOR x the output plus MEMORY_SLACK_MIB.
MEMORY_FACTOR = 2.0
MEMORY_SLACK_MIB = 8.0


def memory_bound_mib(out_mib: float) -> float:
    """The largest peak extra memory (MiB) the target allows for ``out_mib`` of output."""
    return MEMORY_FACTOR * out_mib + MEMORY_SLACK_MIB


def memory_holds(peak_mib: float, out_mib: float) -> bool:
    """Whether a call's peak extra memory stays under ``2x the output + 8 MiB``."""
    return peak_mib < memory_bound_mib(out_mib)
