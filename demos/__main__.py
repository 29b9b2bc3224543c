"""`make demo`: run the demos end to end on 127.0.0.1 and print what happened.

Exits 0 only if every check passed.
"""

from __future__ import annotations

import sys

from demos import echo


def main() -> int:
    results = [echo.run_demo()]
    width = max(len(r.name) for r in results)
    print(f"{'demo':<{width}}  {'messages':>8}  {'time':>8}  result")
    for r in results:
        print(
            f"{r.name:<{width}}  {r.messages:>8}  {r.seconds:>7.3f}s  {'ok' if r.ok else 'FAILED'}"
        )
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
