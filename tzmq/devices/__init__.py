"""Devices on the IOLoop: steerable proxies, a monitored queue, background runners.

* `Proxy`: libzmq's ``zmq_proxy_steerable`` served on the IOLoop (queue,
  forwarder, streamer), with back-pressure, statistics and a control socket;
* `MonitoredQueue`: pyzmq's ``monitored_queue``, every message also copied to
  a monitor socket with an in/out prefix;
* `ThreadProxy`, `ThreadMonitoredQueue`, `ProcessProxy`,
  `ProcessMonitoredQueue`: either one on its own IOLoop thread or in its own
  process, started, stopped and joined from the caller's (pyzmq's
  ``ThreadDevice``/``ProcessDevice``);
* `ProxyStatistics`, `Traffic`: what a proxy counts.

We never import ``zmq.devices``.

Thread-safety: `Proxy` and `MonitoredQueue` run on their IOLoop's thread; the
background runners' methods may be called from any thread.
"""

from ._stats import ProxyStatistics, Traffic
from .background import ProcessMonitoredQueue, ProcessProxy, ThreadMonitoredQueue, ThreadProxy
from .proxy import MonitoredQueue, Proxy

__all__ = [
    "MonitoredQueue",
    "ProcessMonitoredQueue",
    "ProcessProxy",
    "Proxy",
    "ProxyStatistics",
    "ThreadMonitoredQueue",
    "ThreadProxy",
    "Traffic",
]
