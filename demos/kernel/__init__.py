"""Kernel: a Jupyter-style service on tzmq, with a signed wire protocol and a sandbox.

The kernel has the four sockets of a Jupyter kernel, bound on 127.0.0.1 at
random ports and described by a connection file (ip, ports, key, signature
scheme, transport):

* shell (ROUTER): ``execute_request`` and ``kernel_info_request``;
* control (ROUTER): the same, plus ``shutdown_request``;
* iopub (PUB): ``status`` busy/idle around every request, ``execute_input``,
  ``stream`` (what ``print`` wrote), ``execute_result`` and ``error``;
* heartbeat (REP): echoes every ping.

Messages use the Jupyter wire format (`demos.kernel.wire`): identities,
``<IDS|MSG>``, an HMAC-SHA256 signature, then header, parent header, metadata
and content as JSON. A message with a bad signature, or a replay of one
already seen, is logged and dropped: never answered, never run. Code runs in
an arithmetic sandbox of our own (`demos.kernel.sandbox`): parsed with `ast`,
evaluated node by node from a whitelist; no ``eval``, no ``exec``.

Run it::

    python -m demos.kernel                                  # the demo, checked
    python -m demos.kernel --role kernel --connection-file k.json
    python -m demos.kernel --role client --connection-file k.json \\
        --code "x = 6 * 7" --code "print(x, x / 4)" --code "x ** 2" --shutdown
"""

from demos.kernel.demo import main, run_demo

__all__ = ["main", "run_demo"]
