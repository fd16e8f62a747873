"""``digest serve``: the web app under uvicorn, in this process or in worker processes.

With one process (the default) the app and, unless ``--no-scheduler``, the scheduler run
here, the scheduler started and stopped by the app's lifespan.

With ``workers`` (``--workers N`` or ``web.workers``; the PostgreSQL store only, since a
TinyDB file takes one process's writes at a time) this process binds the port and runs the
scheduler, and uvicorn's supervisor starts N workers. Each is a fresh interpreter (spawned,
not forked: no connection, lock or thread of this process is inherited) that loads the same
config and builds its own app (:func:`worker_app`). The supervisor starts a worker again when
one dies, replaces them one by one on SIGHUP, and on SIGTERM or SIGINT stops them all; then
the scheduler lets a send in progress finish its messages in flight, as with one process.

The rate limits live in each process's memory: each worker keeps ``1/N`` of them, so that
together they let through about what the config says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from digest import logs
from digest.config import Config, load_config
from digest.errors import ConfigError
from digest.web.app import Background, create_app
from digest.web.security import RedactTokens

#: What a worker needs from the command that started it (JSON in the environment, which
#: spawned processes inherit): the config file, the number of workers, -v, the dev secret.
WORKER_ENV = "_DIGEST_SERVE_WORKER"  # not a setting: starts with "_"


@dataclass(frozen=True)
class Serve:
    """How ``digest serve`` was asked to run."""

    config: Config
    config_path: Path
    host: str
    port: int
    workers: int
    verbose: bool
    allow_dev_secret: bool  # links signed with the public development secret (local only)


def serve(how: Serve, scheduling: Callable[[], Background] | None) -> None:
    """Serve until SIGTERM or SIGINT; ``scheduling``, when given, starts the scheduler that
    runs beside the web app (called once what would stop the workers has been checked, so
    that a refusal takes no store lock)."""
    config = how.config
    proxies = config.web.proxies
    options: dict[str, Any] = {
        "host": how.host,
        "port": how.port,
        "http": "httptools",  # the C parser (a dependency); h11 costs 1-2 ms of CPU a request
        "loop": "auto",  # uvloop (a dependency) when it is installed
        "proxy_headers": proxies is not None,
        "forwarded_allow_ips": proxies,
        "server_header": False,
        "log_config": logs.uvicorn_log_config(),  # uvicorn's lines in our format
    }
    logs.redact(RedactTokens())  # link tokens in any log line (access lines, error paths)
    if how.workers == 1:
        scheduler = scheduling() if scheduling else None
        app = create_app(config, allow_dev_secret=how.allow_dev_secret, background=scheduler)
        uvicorn.run(app, workers=1, **options)
        return
    _check_workers(how)
    scheduler = scheduling() if scheduling else None
    os.environ[WORKER_ENV] = json.dumps(
        {
            "config": str(how.config_path.resolve()),
            "workers": how.workers,
            "verbose": how.verbose,
            "dev_secret": how.allow_dev_secret,
        }
    )
    if scheduler is not None:
        scheduler.start()
    try:
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=how.workers, **options)
    finally:
        if scheduler is not None:  # a send in progress finishes its messages in flight
            scheduler.stop()


def _check_workers(how: Serve) -> None:
    """What would stop every worker, said once here, before any of them starts."""
    if how.config.store_url is None:
        raise ConfigError(
            f"{how.workers} web workers need the PostgreSQL store: {how.config.store_path} is "
            "a TinyDB file, which takes one process's writes at a time",
            hint="run one worker, or move the store to PostgreSQL: docs/operations.md, section 14",
        )
    create_app(how.config, allow_dev_secret=how.allow_dev_secret, workers=how.workers)


def worker_app() -> Starlette:
    """One worker's app (uvicorn calls it in each worker process it starts)."""
    given = json.loads(os.environ[WORKER_ENV])
    config = load_config(Path(given["config"]))
    logs.setup(config.log, bool(given["verbose"]), service=True)
    logs.redact(RedactTokens())
    return create_app(
        config, allow_dev_secret=bool(given["dev_secret"]), workers=int(given["workers"])
    )
