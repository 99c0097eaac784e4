"""`make bench`: the rewriter benchmark, its C skip loop alone, the rewriter on real pages
(when the corpus ../shared/realworld/pages is there), then the proxy benchmark (each in its
own process)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from realworld import PAGES

HERE = Path(__file__).resolve().parent


def main() -> int:
    t0 = time.perf_counter()
    scripts = ["rewriter.py", "skip.py", "realworld.py", "proxy.py"]
    if not any(PAGES.glob("*.html")):
        print(f"(no real pages under {PAGES}: the real-page benchmark is left out)\n", flush=True)
        scripts.remove("realworld.py")
    for script in scripts:
        rc = subprocess.run([sys.executable, str(HERE / script)], check=False).returncode
        if rc:
            return rc
        print(flush=True)
    print(f"(all benchmarks took {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
