"""`voicerouter serve`'s app behind its real guarded listener (connection limits), with any settings.

Like serve_kit.running_server, but the site is the one `run_server` uses, so header timeouts and per-address
limits are in force; the server is stopped, with all its calls, when the context ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.serve_kit import ServerHandle
from voicerouter.media.context import CONTEXT_KEY
from voicerouter.media.limits import GuardedSite
from voicerouter.server import ServeSettings, create_app


@asynccontextmanager
async def edge_server(directory: Path, **settings: Any) -> AsyncIterator[ServerHandle]:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "recordings_dir": directory / "recordings",
                              "speech": "offline", **settings}  # fmt: skip
    serve = ServeSettings.model_validate(values)
    app = create_app(serve, env={})
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, limits=serve.limits,
                       metrics=app[CONTEXT_KEY].services.metrics.registry)  # fmt: skip
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield ServerHandle(url=f"http://{host}:{port}", app=app, recordings=serve.recordings_dir)
    finally:
        await runner.cleanup()


def metric_value(handle: ServerHandle, sample: str) -> float:
    """One sample of the server's /metrics text (`name{labels}`), 0 when absent."""
    for line in handle.context.services.metrics.render().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
