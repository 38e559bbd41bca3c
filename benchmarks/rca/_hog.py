"""A CPU hog: ``python -m benchmarks.rca._hog DUTY`` burns DUTY of every 100 ms until killed."""

from __future__ import annotations

import sys
import time


def main() -> None:
    duty = min(1.0, max(0.0, float(sys.argv[1]) if len(sys.argv) > 1 else 1.0))
    x = 0
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < 0.1 * duty:
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        rest = 0.1 - (time.perf_counter() - start)
        if rest > 0:
            time.sleep(rest)


if __name__ == "__main__":
    main()
