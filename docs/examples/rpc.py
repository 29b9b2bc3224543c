"""RPC: a service called by name, a remote error, a deadline that reaches the server."""

import asyncio

from tzmq.rpc import AttrHandler, RequestTimeout, connect_rpc, method, serve_rpc


class Calculator(AttrHandler):
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    @method
    def divide(self, a: float, b: float) -> float:
        return a / b

    @method
    async def slow(self) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # the caller's deadline passed
            self.cancelled.set()
            raise


async def main() -> None:
    calculator = Calculator()
    server = await serve_rpc(calculator, bind="tcp://127.0.0.1:*")
    endpoint = server.transport.last_endpoint.decode()
    client = await connect_rpc(connect=endpoint, timeout=5)

    print("6 / 3 =", await client.call.divide(6, 3))
    try:
        await client.call.divide(1, 0)
    except ZeroDivisionError as error:  # raised there, translated back here
        print("remote error:", type(error).__name__, error)
    try:
        await client.with_timeout(0.1).call.slow()
    except RequestTimeout:
        print("slow: timed out")
    await asyncio.wait_for(calculator.cancelled.wait(), 5)
    print("slow: cancelled on the server too")

    client.close()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
