"""Discovery on a LAN: UDP beacons (CZMQ's zbeacon) and peers tracked from them (zyre's way).

* `Beacon`: publish a payload of up to 255 bytes every interval, hear the
  beacons of others (filtered by prefix, our own echo dropped), by callback or
  ``async for``; bad datagrams are counted in `BeaconStats`;
* `Broadcast`, `Multicast`, `Unicast`: where beacons go;
* `ZreBeacon`: the ZRE beacon format of zyre and pyre;
* `Peers`: appeared / evasive / returned / expired / left events from ZRE beacons.

It interoperates both ways with CZMQ's zbeacon and pyre's ZRE beacons. IPv4.

Example::

    beacon = Beacon(ZRE_DISCOVERY_PORT, Broadcast("192.168.1.255"))
    beacon.publish(ZreBeacon(my_uuid, inbox_port).encode())
    peers = Peers(beacon, evasive=5, expired=30)
    peers.on_event(lambda event: print(event.kind, event.peer.endpoint))

Thread-safety: IOLoop thread only.
"""

from .beacon import MAX_PAYLOAD, Beacon, BeaconStats, Heard
from .peers import Peer, PeerEvent, Peers
from .targets import Broadcast, Multicast, Target, Unicast
from .zre import ZRE_DISCOVERY_PORT, ZRE_PREFIX, ZreBeacon

__all__ = [
    "MAX_PAYLOAD",
    "ZRE_DISCOVERY_PORT",
    "ZRE_PREFIX",
    "Beacon",
    "BeaconStats",
    "Broadcast",
    "Heard",
    "Multicast",
    "Peer",
    "PeerEvent",
    "Peers",
    "Target",
    "Unicast",
    "ZreBeacon",
]
