"""README's "Drop into an existing loop" block runs as written and trains a classifier that
separates its three tones on fresh clips it never saw."""
from __future__ import annotations

import os
import re

import torch

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def loop_snippet() -> str:
    with open(README) as f:
        text = f.read()
    m = re.search(r"<!-- loop-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ```python block after <!-- loop-snippet -->"
    return m.group(1)


def test_readme_loop_runs_and_learns():
    code = loop_snippet()
    for line in ("optimizer.zero_grad()", "loss.backward()", "optimizer.step()"):
        assert line in code
    assert len(code.strip().splitlines()) <= 25
    ns: dict = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: one thread is fastest on a shared CPU
    try:
        exec(compile(code, "README.md:loop-snippet", "exec"), ns)
    finally:
        torch.set_num_threads(threads)
    front, model, sr = ns["front"], ns["model"], ns["sr"]
    # Fresh clips from the same three classes, with a new generator: the trained front end +
    # model must tell them apart (chance is 1/3).
    g = torch.Generator().manual_seed(1234)
    labels = torch.randint(0, 3, (60,), generator=g)
    t = torch.arange(sr // 2) / sr
    waves = torch.sin(2 * torch.pi * 300 * 2.0 ** labels[:, None] * t) \
        + 0.5 * torch.randn(60, sr // 2, generator=g)
    model.eval()
    with torch.no_grad():
        accuracy = (model(front(waves)).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.9
