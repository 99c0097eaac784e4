"""The rewriter's C loop reads and writes only inside its buffers: scripts/memcheck.py under
valgrind's memcheck, briefly (the test corpus whole, chunked and cut, and token soups; `make
memcheck` adds the real pages and runs long). A hostile page decides where every buffer
ends, and the loop reads 8 and 16 bytes at a time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MEMCHECK = Path(__file__).resolve().parents[2] / "scripts" / "memcheck.py"
VALGRIND = shutil.which("valgrind")


@pytest.mark.timeout(900)
@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed (`make test` does it)")
def test_the_c_loop_reads_and_writes_only_inside_its_buffers(tmp_path: Path) -> None:
    assert VALGRIND is not None
    run = subprocess.run(
        [
            VALGRIND,
            "--tool=memcheck",
            "--error-exitcode=99",
            "--errors-for-leak-kinds=none",
            "-q",
            sys.executable,
            str(MEMCHECK),
            "--pages",
            str(tmp_path),  # (none: the test corpus only)
            "--soups",
            "500",
        ],
        env={**os.environ, "PYTHONMALLOC": "malloc"},
        check=False,  # (the exit status is asserted, with what valgrind said)
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert run.returncode == 0, run.stderr[-6000:]
    assert "rewrites of" in run.stderr  # the script ran to its end
