"""The ``rfs-monitoring`` command line.

``rfs-monitoring demo`` serves a sample service in the Result pattern with live synthetic traffic,
alerts and the monitoring dashboard on http://127.0.0.1:8000/monitoring/dashboard (Ctrl-C stops
it). It needs uvicorn: ``pip install 'rfs-monitoring[server]'``.

>>> main(["--version"]) == 0  # doctest: +ELLIPSIS
rfs-monitoring ...
True
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence

from rfs_monitoring._core import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rfs-monitoring", description="Observability for services in the Result pattern."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="serve a demo service with live traffic and the monitoring dashboard",
        description="Serve a demo shop service with synthetic traffic, alerts and the live "
        "monitoring dashboard. Ctrl-C stops it.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    demo.add_argument("--rps", type=float, default=25.0, help="synthetic requests/s (25)")
    demo.add_argument("--no-history", action="store_true", help="start without the past hour")
    demo.add_argument("--no-traffic", action="store_true", help="serve without synthetic traffic")
    demo.add_argument(
        "--log-level",
        default="ERROR",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="level of the JSON operation logs on stdout (ERROR: quiet)",
    )
    return parser


def run_demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    rps: float = 25.0,
    history: bool = True,
    traffic: bool = True,
    log_level: str = "ERROR",
) -> int:
    """Serve the demo until interrupted; return the exit status."""
    try:
        import uvicorn
    except ImportError:
        print(
            "rfs-monitoring demo needs uvicorn: pip install 'rfs-monitoring[server]'",
            file=sys.stderr,
        )
        return 2
    from rfs_monitoring._demo import create_app
    from rfs_monitoring.result_logging import configure_logging

    token = os.environ.get("RFS_MONITORING_TOKEN") or secrets.token_urlsafe(16)
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def announce() -> None:
        print(
            f"\n  rfs-monitoring demo is serving live traffic ({rps:g} requests/s)\n"
            f"  Dashboard:   {base}/monitoring/dashboard\n"
            f"  Prometheus:  {base}/monitoring/metrics\n"
            f"  API docs:    {base}/docs\n"
            f"  Write token: {token}\n"
            f"               (send it as 'Authorization: Bearer <token>' to the write routes)\n"
            f"  Press Ctrl-C to stop.\n",
            flush=True,
        )

    configure_logging(level=log_level, service_name="rfs-demo-shop", environment="demo")
    app = create_app(rps=rps, history=history, traffic=traffic, token=token, on_startup=announce)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfs-monitoring`` console script."""
    args = _parser().parse_args(argv)
    if args.version:
        print(f"rfs-monitoring {__version__}")
        return 0
    if args.command == "demo":
        if not 0 < args.port < 65536:
            print(f"rfs-monitoring demo: invalid port {args.port}", file=sys.stderr)
            return 2
        if not args.rps > 0:
            print("rfs-monitoring demo: --rps must be positive", file=sys.stderr)
            return 2
        return run_demo(
            args.host,
            args.port,
            rps=args.rps,
            history=not args.no_history,
            traffic=not args.no_traffic,
            log_level=args.log_level,
        )
    _parser().print_help()
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
