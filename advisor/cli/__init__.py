"""The ``advisor`` command line: thin wrappers that parse, call one library function, and turn
the library's errors into a one-line ``error: ...`` and an exit code.

Exit codes: 0 advice within budget, confirmed on test; 1 nothing fits the budget; 2 bad input or usage
(nothing written); 3 a pick the test split does not confirm; 4 the measuring target went away; 130
interrupted.
"""

from __future__ import annotations

import importlib
import sys
import warnings

from advisor.cli._common import Parser
from advisor.errors import AdvisorError

__all__ = ["main", "build_parser"]

COMMANDS = ("_jobs", "_rank", "_kb", "_worker", "_profile", "_info", "_tui")
# `advisor profile` loads only its own module (start-up: the whole command must take <= 10 s; the
# other commands' modules load torch, scikit-learn and Optuna, ~4 s on the build VM); so does
# `advisor worker`, which on a measuring target runs without torch, scikit-learn or Textual installed.
# What the [full] extra adds to a measuring target's install (pyproject.toml).
_FULL = {"torch", "onnx", "onnxscript", "sklearn", "scipy", "textual", "textual_plotext", "plotext", "matplotlib",
         "torch_pruning", "PIL"}
_ALONE = {"profile": "_profile", "profiles": "_profile", "worker": "_worker"}


def build_parser(command: str | None = None) -> Parser:
    """The parser of every command; with ``command`` in ``_ALONE``, of that command's module only."""
    p = Parser(prog="advisor", description="Compression Advisor: measure, compress and explain for your edge device.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in (_ALONE[command],) if command in _ALONE else COMMANDS:
        importlib.import_module(f"advisor.cli.{name}").add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv[0] if argv else None).parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter (Optuna experimental, torch export)
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _FULL:
            raise
        command = argv[0] if argv else "advisor"
        print(f"error: `advisor {command}` needs the full install (pip install 'compression-advisor[full]'); this "
              f"install lacks {e.name} (a measuring target's install runs `advisor worker --measure-only`)",
              file=sys.stderr)
        return 2
    except AdvisorError as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
