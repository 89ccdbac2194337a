"""Progress display and messages of the study and the command line.

Messages go to stderr (stdout is left for results); progress bars are tqdm bars when tqdm is installed,
else one line every few epochs. ``quiet=True`` silences both, but never the notes that change what the
numbers mean (such as falling back to the shipped MNIST sample).
"""
from __future__ import annotations

import sys
import time

__all__ = ["Reporter"]


class _NoBar:
    def update(self, **postfix):
        pass

    def close(self):
        pass


class _LineBar:
    """Without tqdm: a line at the start, about ten lines during, and one at the end of a step."""

    def __init__(self, stream, title, total):
        self.stream, self.title, self.total = stream, title, max(int(total), 1)
        self.done, self.started = 0, time.perf_counter()
        self.every = max(1, self.total // 10)

    def update(self, **postfix):
        self.done += 1
        if self.done % self.every == 0 or self.done == self.total:
            details = ", ".join(f"{k} {v}" for k, v in postfix.items())
            print(f"  {self.title}: {self.done}/{self.total}" + (f" ({details})" if details else ""),
                  file=self.stream, flush=True)

    def close(self):
        pass


class _TqdmBar:
    def __init__(self, tqdm, stream, title, total, unit):
        self.bar = tqdm(total=total, desc=title, unit=unit, file=stream, leave=True, mininterval=0.2,
                        dynamic_ncols=True)

    def update(self, **postfix):
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close(self):
        self.bar.close()


class Reporter:
    """Where the study says what it is doing.

    ``message`` is informational (hidden by ``quiet``), ``note`` is always shown, ``bar(title, total)``
    returns an object with ``update(**postfix)`` (one call per epoch) and ``close()``.
    """

    def __init__(self, quiet=False, stream=None):
        self.quiet = bool(quiet)
        self.stream = sys.stderr if stream is None else stream

    def message(self, text):
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def note(self, text):
        print(text, file=self.stream, flush=True)

    def bar(self, title, total, unit="epoch"):
        if self.quiet:
            return _NoBar()
        try:
            from tqdm import tqdm
        except ImportError:
            return _LineBar(self.stream, title, total)
        return _TqdmBar(tqdm, self.stream, title, total, unit)
