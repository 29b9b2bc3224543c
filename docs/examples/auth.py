"""Authentication: CURVE with certificates made on the fly; only known clients get in."""

import asyncio
import tempfile
from pathlib import Path

import zmq

import tzmq
from tzmq.auth import IOLoopAuthenticator, create_certificates, load_certificate


async def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        await serve_and_ask(Path(temporary))


async def serve_and_ask(folder: Path) -> None:
    (folder / "allowed").mkdir()
    server_public, server_secret = load_certificate(create_certificates(folder, "server")[1])
    # The client's public key goes into the allowed folder; its secret key is 0600.
    client_public, client_secret = load_certificate(
        create_certificates(folder / "allowed", "client")[1]
    )

    ctx = tzmq.Context()
    auth = IOLoopAuthenticator(ctx)
    auth.allow("127.0.0.1")
    auth.configure_curve(domain="*", location=str(folder / "allowed"))
    auth.start()

    server = ctx.socket(zmq.REP)
    server.curve_server = True
    server.curve_publickey, server.curve_secretkey = server_public, server_secret
    port = server.bind_to_random_port("tcp://127.0.0.1")

    client = ctx.socket(zmq.REQ)
    client.curve_serverkey = server_public
    client.curve_publickey, client.curve_secretkey = client_public, client_secret
    client.connect(f"tcp://127.0.0.1:{port}")

    await client.send(b"hello")
    frame = await asyncio.wait_for(server.recv(copy=False), 5)
    print("the server sees the client's key:", frame.get("User-Id") == client_public.decode())
    await server.send(b"welcome")
    print(await asyncio.wait_for(client.recv(), 5))

    auth.stop()
    for sock in (client, server):
        sock.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    asyncio.run(main())
