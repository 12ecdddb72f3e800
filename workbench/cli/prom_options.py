"""Options shared by the commands that query a Prometheus server (`collect prometheus`, `alerts`)."""

from __future__ import annotations

from collections.abc import Callable

import click


def prometheus_client_options(f: Callable) -> Callable:
    """--timeout, --concurrency, --ca-file and --insecure: how the range queries reach the server."""
    for option in reversed([
        click.option("--timeout", "server_timeout", metavar="D", help="Server-side evaluation timeout, e.g. 30s."),
        click.option("--concurrency", default=4, show_default=True, help="Range-query windows fetched at once."),
        click.option("--ca-file", type=click.Path(dir_okay=False), help="CA bundle for an https URL."),
        click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate."),
    ]):
        f = option(f)
    return f
