"""A TCP port that forwards to a Unix socket: the multi-host run's database host.

This machine's PostgreSQL listens on 127.0.0.1 and on its Unix socket. A network namespace
has a loopback of its own, so the "db" host of `make multihost` (devtools/multihost.py)
runs this inside its namespace: it listens on the host's private address and carries each
connection to PostgreSQL's Unix socket (the file system is shared between namespaces, the
network is not). Every query of the web and worker hosts thus crosses their links to the
db host. No Django here: `python -m devtools.netforward --listen ADDR:PORT --unix PATH`.
"""

import argparse
import asyncio
import signal

BUFFER_BYTES = 65536


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER_BYTES):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def serve(*, host: str, port: int, unix_path: str) -> None:
    async def connected(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(unix_path)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer))

    server = await asyncio.start_server(connected, host, port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def parse_listen(value: str) -> tuple[str, int]:
    host, separator, port = value.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected ADDRESS:PORT, got {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=parse_listen, required=True, help="ADDRESS:PORT to listen on")
    parser.add_argument("--unix", required=True, help="the Unix socket to forward each connection to")
    args = parser.parse_args(argv)
    host, port = args.listen
    asyncio.run(serve(host=host, port=port, unix_path=args.unix))


if __name__ == "__main__":
    main()
