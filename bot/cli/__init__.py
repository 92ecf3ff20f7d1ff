"""The `chorus` command: one sub-command per module, each registering itself.

Every sub-command takes `--config` and `--help`. Problems a user can fix (a bad config,
an unreachable store) end the command with one line on stderr and a non-zero exit code,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from bot.config import ConfigError
from storage.errors import SchemaOutdated, StatementTimeout, StoreConfigError, StoreUnavailable

# Each module has `register(commands, common)`; order is the order of `chorus --help`.
COMMAND_MODULES = (
    "bot.cli.run",
    "bot.cli.chat",
    "bot.cli.analyse",
    "bot.cli.reports",
    "bot.cli.export",
    "bot.cli.importer",
    "bot.cli.failed",
    "bot.cli.charts",
    "bot.cli.db",
)


def _scope_error() -> type[Exception]:
    # Imported only when an error reaches its `except`: it brings in the insights and
    # SQLAlchemy, a second that `chorus analyse` does not need.
    from handlers.insights.scope import ScopeError

    return ScopeError


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default="config.yaml",
        metavar="PATH",
        help="the consultation's config file (default: %(default)s)",
    )
    common.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default: INFO; WARNING for chat, whose terminal "
        "is a participant's)",
    )
    parser = argparse.ArgumentParser(
        prog="chorus",
        description="Chorus: crowdsourced consultations over the channels people already use.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).register(commands, common)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries that log request URLs at INFO would print bot tokens, which live in URLs.
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    # `chorus analyse` only needs its own module, which imports nothing of the store.
    modules = ("bot.cli.analyse",) if arguments[:1] == ["analyse"] else COMMAND_MODULES
    args = build_parser(modules).parse_args(arguments)
    configure_logging(args.log_level or getattr(args, "log_level_default", "INFO"))
    try:
        return int(args.handler(args) or 0)
    except ConfigError as error:
        print(f"chorus: configuration error: {error}", file=sys.stderr)
        return 2
    except StoreConfigError as error:
        print(f"chorus: configuration error: {error}", file=sys.stderr)
        return 2
    except _scope_error() as error:
        print(f"chorus: {error}", file=sys.stderr)
        return 2
    except SchemaOutdated as error:
        print(f"chorus: {error}", file=sys.stderr)
        return 3
    except StatementTimeout as error:
        print(
            f"chorus: the store took too long: {error}; a heavy report may need a larger "
            "store.statement_seconds in config.yaml",
            file=sys.stderr,
        )
        return 3
    except StoreUnavailable as error:
        print(f"chorus: the store cannot be reached: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`chorus analyse | head`): stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
