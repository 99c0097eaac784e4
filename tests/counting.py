"""Work counted, not timed: the lines of a module's Python that a call runs. A loop over a
hostile input's items runs lines an item; a str method or one regex call over all of it
is one line, so a count that does not grow with the input shows the work left to C."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any


def lines_run(module: ModuleType, call: Callable[[], object]) -> int:
    """How many lines of module's code call() runs (in its functions and what they call)."""
    count = 0

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        return line

    def called(frame: FrameType, event: str, arg: Any) -> Any:
        return line if frame.f_code.co_filename == module.__file__ else None

    sys.settrace(called)
    try:
        call()
    finally:
        sys.settrace(None)
    return count
