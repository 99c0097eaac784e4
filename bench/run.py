"""`make bench`: the rewriter benchmark, then the proxy benchmark (each in its own process)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    t0 = time.perf_counter()
    for script in ("rewriter.py", "proxy.py"):
        rc = subprocess.run([sys.executable, str(HERE / script)], check=False).returncode
        if rc:
            return rc
        print(flush=True)
    print(f"(all benchmarks took {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
