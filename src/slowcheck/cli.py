"""The ``slowcheck`` command: argument parsing over the command modules, one line for an error, the exit code.

Each command lives in its own module with ``HELP``, ``DESCRIPTION``, ``add_arguments`` and ``main``; this
module registers them and turns a ``SlowcheckError`` into one line on stderr. Exit codes everywhere
(``slowcheck.verdict``): 0 all good, 1 something checked was found wrong, 2 usage or configuration error,
3 inconclusive; 130 on Ctrl-C and 143 on SIGTERM (the shell's conventions), each after what was running has
stopped and written what it had.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from slowcheck import __version__, schemas_command
from slowcheck.contract import command as contract_command
from slowcheck.errors import SlowcheckError
from slowcheck.load import command as load_command
from slowcheck.mock import command as mock_command
from slowcheck.proxy import command as proxy_command
from slowcheck.replay import command as replay_command
from slowcheck.report import command as report_command
from slowcheck.run import command as run_command
from slowcheck.sdk import command as sdk_command

__all__ = ["COMMANDS", "main"]

Handler = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, ModuleType] = {
    "run": run_command,
    "mock": mock_command,
    "contract": contract_command,
    "load": load_command,
    "sdk-matrix": sdk_command,
    "proxy": proxy_command,
    "replay": replay_command,
    "report": report_command,
    "schemas": schemas_command,
}
"""Every command, in the order ``slowcheck --help`` lists them."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    previous = _on_sigterm()
    try:
        return handler(args)
    except SlowcheckError as exc:
        print(f"slowcheck: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("slowcheck: stopped (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("slowcheck: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, Kubernetes, CI cancelling a job): unwound as Ctrl-C is, so a load run's locust is
    stopped, its rows and summary written, before the command exits. Python's default would end the command at
    once and leave locust sending the rest of the plan."""


def _on_sigterm() -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(_signum: int, _frame: Any) -> None:
        raise Terminated

    return signal.signal(signal.SIGTERM, stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slowcheck",
        description="Contract tests and load runs for OpenAI-compatible asynchronous inference APIs.",
    )
    parser.add_argument("--version", action="version", version=f"slowcheck {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = commands.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        command.set_defaults(handler=module.main)
        module.add_arguments(command)  # an action's own handler, where it has actions, overrides main
    return parser
