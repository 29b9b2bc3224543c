"""ZAP authentication (ZeroMQ RFC 27) served on the Tornado IOLoop.

A drop-in for pyzmq's ``zmq.auth`` and ``zmq.auth.ioloop`` (same names and
signatures), with: handshakes answered concurrently (a slow async credentials
callback holds up only its own peer), secret key files created 0600, a
certificate directory and a password file that are re-read when they change,
and every decision logged on ``tzmq.auth`` without secrets.

CURVE with a directory of allowed client keys::

    import zmq
    from tornado.ioloop import IOLoop
    from tzmq import ZMQStream
    from tzmq.auth import IOLoopAuthenticator, create_certificates, load_certificate

    ctx = zmq.Context()
    auth = IOLoopAuthenticator(ctx)
    auth.allow("127.0.0.1")
    auth.configure_curve(domain="*", location="public_keys")  # *.key files, watched
    auth.start()

    _, secret_file = create_certificates("private", "server")  # secret file is 0600
    public, secret = load_certificate(secret_file)
    server = ctx.socket(zmq.ROUTER)
    server.curve_server = True
    server.curve_publickey, server.curve_secretkey = public, secret
    server.bind("tcp://127.0.0.1:5555")
    stream = ZMQStream(server)
    stream.on_recv(print, copy=False)  # frame.get("User-Id"): the client's key in Z85
    IOLoop.current().start()

Modules: `zap` (the protocol and policy, no socket I/O), `ioloop`
(`IOLoopAuthenticator`), `certs` (certificate files, `CertificateStore`),
`passwords` (`PasswordFile`).

Thread-safety: everything runs on the IOLoop thread; see each module.
"""

from .certs import CertificateStore, create_certificates, load_certificate, load_certificates
from .ioloop import IOLoopAuthenticator
from .passwords import PasswordFile
from .zap import CURVE_ALLOW_ANY, CredentialsProvider, Decision, PendingDecision, ZAPPolicy

__all__ = [
    "CURVE_ALLOW_ANY",
    "CertificateStore",
    "CredentialsProvider",
    "Decision",
    "IOLoopAuthenticator",
    "PasswordFile",
    "PendingDecision",
    "ZAPPolicy",
    "create_certificates",
    "load_certificate",
    "load_certificates",
]
