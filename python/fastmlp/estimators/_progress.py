"""Progress display for ``verbose=True``: a tqdm bar when tqdm is installed, else one printed line per
epoch. It is updated once per epoch, never from inside the native epoch loop."""
from __future__ import annotations

import sys


def _describe(record):
    text = f"loss {record['loss']:.6g}"
    if record["validation_score"] is not None:
        text += f", validation {record['validation_score']:.6g}"
    return text


class NoProgress:
    def update(self, record):
        pass

    def close(self):
        pass


class LineProgress:
    """One line per epoch on stdout (what scikit-learn's verbose MLP prints, with timing)."""

    def __init__(self, name, total):
        self.name, self.total = name, total

    def update(self, record):
        print(f"{self.name} epoch {record['epoch']}/{self.total}: {_describe(record)} "
              f"({record['seconds']:.3f} s)", file=sys.stdout, flush=True)

    def close(self):
        pass


class TqdmProgress:
    def __init__(self, tqdm, name, total):
        self.bar = tqdm(total=total, desc=name, unit="epoch", leave=True)

    def update(self, record):
        self.bar.set_postfix_str(_describe(record), refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


def make_progress(verbose, name, total):
    """The progress display for a fit of at most ``total`` epochs."""
    if not verbose:
        return NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return LineProgress(name, total)
    return TqdmProgress(tqdm, name, total)
