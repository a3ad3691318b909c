"""The ``advisor`` command line: thin wrappers that parse, call one library function, and turn
the library's errors into a one-line ``error: ...`` and an exit code.

Exit codes: 0 advice within budget; 1 nothing fits the budget; 2 bad input or usage (nothing
written); 130 interrupted.
"""

from __future__ import annotations

import sys
import warnings

from advisor.cli import _info, _jobs, _kb, _profile, _rank, _tui, _worker
from advisor.cli._common import Parser
from advisor.errors import AdvisorError

__all__ = ["main", "build_parser"]

COMMANDS = (_jobs, _rank, _kb, _worker, _profile, _info, _tui)


def build_parser() -> Parser:
    p = Parser(prog="advisor", description="Compression Advisor: measure, compress and explain for your edge device.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS:
        module.add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter (Optuna experimental, torch export)
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except AdvisorError as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
