"""``python -m tzmq.compat run [-m MODULE | SCRIPT] [ARGS...]``: a process on tzmq.

Installs `tzmq.compat` first, then runs the module or script as ``__main__``
with the remaining arguments, exactly as ``python -m MODULE`` or
``python SCRIPT`` would. Everything after the module or script name belongs
to the program (so ``-f conn.json`` reaches ``ipykernel_launcher``).

Thread-safety: runs in the main thread before anything else.
"""

from __future__ import annotations

import runpy
import sys

from tzmq.compat import install

_USAGE = "usage: python -m tzmq.compat run (-m MODULE | SCRIPT) [ARGS...]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-h"], ["--help"]):
        print(_USAGE)
        print("Run a Python program with pyzmq's Tornado layers replaced by tzmq's.")
        return 0
    if len(args) < 2 or args[0] != "run" or (args[1] == "-m" and len(args) < 3):
        print(_USAGE, file=sys.stderr)
        return 2
    install()
    if args[1] == "-m":
        module, rest = args[2], args[3:]
        sys.argv = [module, *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script, rest = args[1], args[2:]
        sys.argv = [script, *rest]
        runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
