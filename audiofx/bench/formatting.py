"""How the report writes its figures: times, rates, ratios and memory, as markdown cells."""
from __future__ import annotations

from typing import Optional


def fmt_ms(s: float) -> str:
    """Seconds as milliseconds with 3-4 significant digits: ``0.123``, ``12.35``, ``1234``."""
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def fmt_rate(r: float) -> str:
    """A rate (seconds of audio per second): ``1,234`` from 10 on, else two decimals."""
    return f"{r:,.0f}" if r >= 10 else f"{r:.2f}"


def fmt_ratio(v: Optional[float]) -> str:
    """``1.23x``; an empty cell for None."""
    return "" if v is None else f"{v:.2f}x"


def fmt_memory(mem: Optional[dict]) -> str:
    """A peak-memory measurement as ``peak (output)`` in MiB, ``error: ...`` or empty."""
    if mem is None:
        return ""
    if "error" in mem:
        return "error: " + mem["error"][:40]
    return f"{mem['peak_mib']:.1f} ({mem['out_mib']:.1f})"


def yes_no(ok: Optional[bool]) -> str:
    """``yes`` / ``NO`` / empty (not measured)."""
    return "" if ok is None else "yes" if ok else "NO"
