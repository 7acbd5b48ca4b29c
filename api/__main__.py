"""`python -m api`: the API under uvicorn as the product runs it (make run-api, the embedded default,
the container), with forwarded headers believed only from the proxies in AFTERSALES_TRUSTED_PROXIES.

uvicorn on its own believes X-Forwarded-For from 127.0.0.1 (its default --forwarded-allow-ips), so any
process on the machine could pose as any address and slip past the per-address sign-in limit; the
embedded default trusts no proxy at all (P6). Behind a reverse proxy, list its addresses (or CIDR ranges).

    python -m api [--host H] [--port P] [--fd N] [--no-access-log]
"""

import argparse
import socket
from typing import Any

from adapters.config import Settings, get_settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The forwarded-header options for uvicorn: off unless proxies are configured, then only theirs."""
    proxies = [p.strip() for p in settings.trusted_proxies if p.strip()]
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": ",".join(proxies)}


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m api", description="the after-sales API under uvicorn")
    parser.add_argument("--host", default=settings.api_host)
    parser.add_argument("--port", type=int, default=settings.api_port)
    parser.add_argument("--fd", type=int, help="serve on this already bound socket (tests)")
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)
    if args.fd is None:
        uvicorn.run("api.app:app", host=args.host, port=args.port, access_log=not args.no_access_log,
                    **uvicorn_options(settings))
        return
    config = uvicorn.Config("api.app:app", access_log=not args.no_access_log, **uvicorn_options(settings))
    uvicorn.Server(config).run(sockets=[inherited_socket(args.fd)])


def inherited_socket(fd: int) -> socket.socket:
    """The already bound socket as what it is. uvicorn's own --fd opens any descriptor as AF_UNIX, so asyncio
    never sets TCP_NODELAY on the TCP connections it accepts: every response whose headers and body go out
    in two writes then waited for the client's delayed ACK (Nagle), ~40 ms a request. socket(fileno=)
    reads the family, type and protocol from the descriptor itself."""
    return socket.socket(fileno=fd)


if __name__ == "__main__":
    main()
