"""The ZAP 1.0 protocol (ZeroMQ RFC 27) and the authentication policy, with no socket I/O.

`ZAPPolicy` holds the configuration (address lists, PLAIN passwords, CURVE
keys, per ZAP domain) and answers one request at a time: frames in, as a
ROUTER socket receives them, and out comes a `Decision` whose ``reply`` is
the frames to send back, or a `PendingDecision` when a CURVE credentials
callback returned an awaitable, or None when the request cannot be answered::

    outcome = policy.handle(frames)
    if isinstance(outcome, PendingDecision):
        try:
            value = await outcome.verdict
        except Exception as error:
            outcome = outcome.fail(error)
        else:
            outcome = outcome.resolve(value)
    if outcome is not None:
        socket.send_multipart(outcome.reply)

`tzmq.auth.ioloop.IOLoopAuthenticator` is this policy served on the IOLoop.
The stores it consults (`CertificateStore`, `PasswordFile`) may read files;
nothing here touches a socket, so every rule is testable without one.

The policy, as pyzmq's ``zmq.auth.base.Authenticator`` (same configuration
methods), with the differences noted:

* Address lists come first. After ``allow(...)`` only the listed addresses
  get further; after ``deny(...)`` the listed ones are refused. The two are
  exclusive. Addresses are compared as IP addresses (``::ffff:1.2.3.4`` is
  ``1.2.3.4``); a string that is not one raises ValueError at the call.
* NULL: allowed unless the address lists refuse it (User-Id ``anonymous``).
  libzmq asks ZAP about NULL clients only if the server socket sets
  ``zap_domain``.
* PLAIN: username and password from a dict or a password file (reloaded
  when it changes, `tzmq.auth.passwords`). User-Id is the username.
* CURVE: per domain, any key (`CURVE_ALLOW_ANY`), the keys of a certificate
  directory (re-read when files come and go, `tzmq.auth.certs`), or a
  credentials provider whose ``callback(domain, z85_key)`` returns a bool
  or an awaitable of one. User-Id is ``curve_user_id(key)``. pyzmq keeps
  "allow any" and "use callbacks" global across domains; here each domain
  has its own CURVE configuration and the last ``configure_curve*`` call for
  a domain wins.
* GSSAPI: the mechanism has authenticated the principal already; it is
  allowed unless the address lists refuse it, and is the User-Id.
* Domains: a request is checked against the configuration of its ZAP domain
  (the server socket's ``zap_domain``); an empty domain uses ``"*"``. As in
  pyzmq, ``"*"`` is not a wildcard for other domain names: a domain nobody
  configured is refused, which fails closed.

What a malformed request gets (RFC 27 requires a reply to echo the
request's envelope and request id, so without them there is nothing to
send; the error never escapes `ZAPPolicy.handle`):

==============================================  ===============================
request                                         outcome
==============================================  ===============================
no empty delimiter frame (no envelope)          dropped (logged)
no request id after the delimiter               dropped (logged)
version other than ``1.0``                      500 Unsupported ZAP version
fewer than 6 frames after the delimiter, a      500 Malformed request
field over 255 bytes, an empty mechanism
mechanism not NULL, PLAIN, CURVE or GSSAPI      400 Unsupported mechanism
credentials of the wrong count or size          400 Invalid credentials
a callback or ``curve_user_id`` raises          500 Internal error
the handler stops while a callback is pending   500 Authenticator stopped
==============================================  ===============================

Every decision is logged on the policy's logger (``tzmq.auth`` by default):
200 at INFO, 400 at WARNING, 500 at ERROR, with the status, mechanism,
address, domain, reason and who asked (PLAIN username, CURVE public key in
Z85, GSSAPI principal), never a password or a secret key. The record
carries the `Decision` as ``record.zap_decision``.

Thread-safety: not thread-safe; configure and handle from one thread (the
IOLoop's).
"""

from __future__ import annotations

import codecs
import hmac
import inspect
import ipaddress
import logging
import os
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from zmq.utils import z85

from .certs import CertificateStore
from .passwords import PasswordFile

__all__ = [
    "CURVE_ALLOW_ANY",
    "ZAP_ENDPOINT",
    "ZAP_VERSION",
    "CredentialsProvider",
    "Decision",
    "PendingDecision",
    "ZAPPolicy",
]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"
CURVE_ALLOW_ANY = "*"

_MAX_FIELD = 255  # RFC 27: string fields and the identity are at most 255 octets
_CURVE_KEY_SIZE = 32
_CREDENTIAL_FRAMES = {"NULL": 0, "PLAIN": 2, "CURVE": 1, "GSSAPI": 1}
_ANONYMOUS = b"anonymous"

_LEVELS = {"200": logging.INFO, "400": logging.WARNING, "500": logging.ERROR}

if TYPE_CHECKING:
    from typing import TypeAlias

    Logger: TypeAlias = logging.Logger | logging.LoggerAdapter[Any]


class CredentialsProvider(Protocol):
    """What ``configure_curve_callback`` takes: an object with a ``callback``."""

    def callback(self, domain: str, key: bytes) -> bool | Awaitable[bool]:
        """Whether the client with this Z85 public ``key`` may connect in ``domain``."""
        ...


class _AllowAny:
    def __repr__(self) -> str:
        return "CURVE_ALLOW_ANY"


_ALLOW_ANY = _AllowAny()

_CurvePolicy = _AllowAny | CertificateStore | CredentialsProvider
_PasswordSource = Mapping[str, str] | PasswordFile


@dataclass(frozen=True)
class _Request:
    envelope: tuple[bytes, ...]
    request_id: bytes
    domain: str = ""
    address: str = ""
    mechanism: str = ""
    credentials: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The answer to one ZAP request.

    ``status_code`` is ``"200"`` (allowed), ``"400"`` (denied) or ``"500"``
    (internal error or malformed request); ``status_text`` says why.
    ``peer`` names who asked (PLAIN username, CURVE key in Z85, GSSAPI
    principal; empty for NULL), for logs. ``reply`` is the frames to send.
    """

    status_code: str
    status_text: str
    user_id: bytes
    mechanism: str
    address: str
    domain: str
    peer: str
    envelope: tuple[bytes, ...] = field(repr=False)
    request_id: bytes = field(repr=False)

    @property
    def allowed(self) -> bool:
        """True for a 200 reply."""
        return self.status_code == "200"

    @property
    def reply(self) -> list[bytes]:
        """The reply frames: envelope, version, request id, status, text, user id, metadata."""
        return [
            *self.envelope,
            ZAP_VERSION,
            self.request_id,
            self.status_code.encode("ascii"),
            self.status_text.encode("ascii"),
            self.user_id,
            b"",
        ]


class PendingDecision:
    """A CURVE decision waiting for the awaitable a credentials callback returned.

    Await ``verdict``, then call ``resolve(value)`` with what it gave or
    ``fail(error)`` with what it raised; a handler that stops before then
    calls ``abandon()``, so the handshake fails now instead of waiting for
    libzmq's handshake timeout. Each returns the `Decision` (and logs it) and
    never raises; once decided, every call returns that first decision.
    """

    def __init__(
        self, policy: ZAPPolicy, request: _Request, key: bytes, verdict: Awaitable[object]
    ) -> None:
        self._policy = policy
        self._request = request
        self._key = key
        self.verdict = verdict
        self._decision: Decision | None = None

    def __repr__(self) -> str:
        request = self._request
        return (
            f"<PendingDecision CURVE address={request.address!r} domain={request.domain!r}"
            f" key={z85.encode(self._key).decode('ascii')!r}>"
        )

    def resolve(self, value: object) -> Decision:
        """The decision once the callback's awaitable gave ``value`` (truthy: allowed)."""
        if self._decision is None:
            self._decision = self._policy._settle(self._request, self._key, value)
        return self._decision

    def fail(self, error: BaseException) -> Decision:
        """The decision (500) once the callback's awaitable raised ``error``."""
        if self._decision is None:
            self._decision = self._policy._internal_error(self._request, error)
        return self._decision

    def abandon(self, reason: str = "Authenticator stopped") -> Decision:
        """The decision (500, logged as a warning) when nobody will wait for the verdict."""
        if self._decision is None:
            peer = z85.encode(self._key).decode("ascii")
            self._decision = self._policy._conclude(
                self._request, "500", reason, peer=peer, level=logging.WARNING
            )
        return self._decision


def _canonical_address(address: str) -> str:
    """The IP address in one spelling; ValueError if it is not an IP address."""
    if not isinstance(address, str):
        # ip_address() would take an int (or bytes) and mean something else.
        raise TypeError(f"addresses are str, not {type(address).__name__}")
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _check_domain(domain: object) -> str:
    if not isinstance(domain, str):
        raise TypeError(f"domain must be a str, not {type(domain).__name__}")
    return domain or "*"


class ZAPPolicy:
    """Who may connect: the ZAP configuration, and the rules that answer requests.

    ``encoding`` decodes domains, addresses and PLAIN usernames and encodes
    User-Ids; ``log`` is the logger for decisions (default ``tzmq.auth``).
    Until configured, NULL clients are allowed and PLAIN and CURVE clients
    denied.
    """

    encoding: str
    log: Logger

    def __init__(self, encoding: str = "utf-8", log: Logger | None = None) -> None:
        codecs.lookup(encoding)
        self.encoding = encoding
        self.log = log or logging.getLogger("tzmq.auth")
        self._allowed: set[str] = set()
        self._denied: set[str] = set()
        self._plain: dict[str, _PasswordSource] = {}
        self._curve: dict[str, _CurvePolicy] = {}

    # -- configuration ------------------------------------------------------------

    def allow(self, *addresses: str) -> None:
        """Allow only these IP addresses (and those of earlier calls).

        NULL clients from them are accepted; PLAIN, CURVE and GSSAPI clients
        still have to authenticate. Everyone else is denied. Raises
        ValueError after `deny` or for a string that is not an IP address.
        """
        if self._denied:
            raise ValueError("allow() after deny(): use an allow list or a deny list, not both")
        canonical = {_canonical_address(a) for a in addresses}
        self._allowed.update(canonical)
        self.log.debug("ZAP allowing %s", ", ".join(sorted(canonical)))

    def deny(self, *addresses: str) -> None:
        """Deny these IP addresses; others go on to authenticate.

        Raises ValueError after `allow` or for a string that is not an IP
        address.
        """
        if self._allowed:
            raise ValueError("deny() after allow(): use an allow list or a deny list, not both")
        canonical = {_canonical_address(a) for a in addresses}
        self._denied.update(canonical)
        self.log.debug("ZAP denying %s", ", ".join(sorted(canonical)))

    def configure_plain(
        self,
        domain: str = "*",
        passwords: Mapping[str, str] | str | os.PathLike[str] | None = None,
    ) -> None:
        """Set the PLAIN users of ``domain`` (``"*"``: requests with no domain).

        ``passwords`` is a ``{username: password}`` mapping (consulted at each
        handshake, so changes to it apply to the next one), or the path of a
        password file in czmq's ``user=password`` format, re-read when it
        changes (`PasswordFile`; a missing file raises OSError here). None
        removes the domain's PLAIN users: its PLAIN clients are denied.
        """
        domain = _check_domain(domain)
        source: _PasswordSource
        if passwords is None:
            self._plain.pop(domain, None)
            self.log.debug("ZAP PLAIN domain %r: no users", domain)
            return
        if isinstance(passwords, Mapping):
            source = passwords
        elif isinstance(passwords, (str, os.PathLike)):
            source = PasswordFile(passwords, self.encoding, self.log)
        else:
            raise TypeError(
                "passwords must be a mapping, a password file path or None, "
                f"not {type(passwords).__name__}"
            )
        self._plain[domain] = source
        # Never the mapping itself: its values are passwords.
        what = repr(source) if isinstance(source, PasswordFile) else f"{len(source)} users"
        self.log.debug("ZAP PLAIN domain %r: %s", domain, what)

    def configure_curve(self, domain: str = "*", location: str | os.PathLike[str] = ".") -> None:
        """Set the CURVE keys of ``domain``: a certificate directory or `CURVE_ALLOW_ANY`.

        The directory's ``*.key`` files are the allowed public keys; files
        added or removed later are noticed at the next handshake, without
        calling this again (`CertificateStore`). A location that is not a
        readable directory raises OSError here.
        """
        domain = _check_domain(domain)
        policy: _CurvePolicy = (
            _ALLOW_ANY if location == CURVE_ALLOW_ANY else CertificateStore(location, self.log)
        )
        self._curve[domain] = policy
        self.log.debug("ZAP CURVE domain %r: %r", domain, policy)

    def configure_curve_callback(
        self, domain: str = "*", credentials_provider: CredentialsProvider | None = None
    ) -> None:
        """Let ``credentials_provider.callback(domain, z85_key)`` decide ``domain``'s CURVE clients.

        The callback gets the domain (``"*"`` for requests with none) and the
        client's public key as Z85 bytes, and returns a bool or an awaitable
        of one; other handshakes go on while it is pending. If it raises, the
        client is denied (500) and the error logged. Raises TypeError if the
        provider has no callable ``callback``.
        """
        domain = _check_domain(domain)
        callback = getattr(credentials_provider, "callback", None)
        if credentials_provider is None or not callable(callback):
            raise TypeError(
                "credentials_provider needs a callback(domain, key) method, "
                f"not {credentials_provider!r}"
            )
        self._curve[domain] = credentials_provider
        self.log.debug("ZAP CURVE domain %r: callback %r", domain, credentials_provider)

    def configure_gssapi(self, domain: str = "*", location: str | None = None) -> None:
        """Accepted for pyzmq compatibility: GSSAPI has nothing to configure.

        The GSSAPI mechanism authenticates the principal itself; ZAP only
        applies the address lists to it.
        """
        domain = _check_domain(domain)
        self.log.debug("ZAP GSSAPI domain %r: nothing to configure", domain)

    def curve_user_id(self, client_public_key: bytes) -> str:
        """The User-Id of an allowed CURVE client: by default its key in Z85.

        Override to map keys to application user names. Called only for
        allowed clients; if it raises or returns something other than a
        str, the client is denied (500) and the error logged.
        """
        return z85.encode(client_public_key).decode("ascii")

    # -- requests -----------------------------------------------------------------

    def handle(self, frames: Sequence[bytes]) -> Decision | PendingDecision | None:
        """Answer one request (frames as a ROUTER socket receives them). Never raises.

        Returns the `Decision`, a `PendingDecision` for a callback still
        thinking, or None for a request that cannot be answered (logged).
        """
        try:
            parts = [f if type(f) is bytes else bytes(memoryview(f)) for f in frames]
        except Exception:
            self._drop("frames are not bytes-like")
            return None
        try:
            delimiter = parts.index(b"")
        except ValueError:
            self._drop(f"no empty delimiter frame in {len(parts)} frames")
            return None
        body = parts[delimiter + 1 :]
        if len(body) < 2:
            self._drop(f"no request id after the delimiter, {len(parts)} frames")
            return None
        request = _Request(tuple(parts[: delimiter + 1]), body[1])
        try:
            if body[0] != ZAP_VERSION:
                return self._conclude(request, "500", "Unsupported ZAP version")
            if len(body) < 6:
                return self._conclude(request, "500", "Malformed request")
            domain, address, identity, mechanism = body[2:6]
            request = _Request(
                request.envelope,
                request.request_id,
                domain.decode(self.encoding, "replace"),
                address.decode(self.encoding, "replace"),
                mechanism.decode("ascii", "replace"),
                tuple(body[6:]),
            )
            if not mechanism or max(map(len, (domain, address, identity, mechanism))) > _MAX_FIELD:
                return self._conclude(request, "500", "Malformed request")
            return self._decide(request)
        except Exception as error:
            return self._internal_error(request, error)

    def _drop(self, why: str) -> None:
        # Never the frames themselves: they may hold a password.
        self.log.error("ZAP request dropped (%s): no reply can be sent", why)

    def _decide(self, request: _Request) -> Decision | PendingDecision:
        mechanism = request.mechanism
        credentials = request.credentials
        expected = _CREDENTIAL_FRAMES.get(mechanism)
        if expected is None:
            return self._conclude(request, "400", "Unsupported mechanism")
        if len(credentials) != expected or (
            mechanism == "CURVE" and len(credentials[0]) != _CURVE_KEY_SIZE
        ):
            return self._conclude(request, "400", "Invalid credentials")
        address_allowed = False
        if self._allowed or self._denied:
            try:
                address = _canonical_address(request.address)
            except ValueError:
                address = request.address
            if self._allowed:
                if address not in self._allowed:
                    return self._conclude(request, "400", "Address not allowed")
                address_allowed = True
            elif address in self._denied:
                return self._conclude(request, "400", "Address denied")
        if mechanism == "NULL":
            reason = "Address allowed" if address_allowed else "OK"
            return self._conclude(request, "200", reason, _ANONYMOUS)
        if mechanism == "PLAIN":
            return self._plain_decision(request)
        if mechanism == "CURVE":
            return self._curve_decision(request)
        principal = credentials[0]
        return self._conclude(request, "200", "OK", principal, self._text(principal))

    def _plain_decision(self, request: _Request) -> Decision:
        raw_username, password = request.credentials
        username = self._text(raw_username)
        source = self._plain.get(request.domain or "*")
        if source is None:
            reason = "Invalid domain" if self._plain else "No passwords defined"
            return self._conclude(request, "400", reason, peer=username)
        table = source.passwords() if isinstance(source, PasswordFile) else source
        try:
            stored = table.get(raw_username.decode(self.encoding))
        except UnicodeDecodeError:
            stored = None
        if stored is None:
            return self._conclude(request, "400", "Invalid username", peer=username)
        # Constant time, on bytes: decoding with "replace" would let bytes collide.
        if not hmac.compare_digest(stored.encode(self.encoding, "surrogateescape"), password):
            return self._conclude(request, "400", "Invalid password", peer=username)
        return self._conclude(request, "200", "OK", raw_username, username)

    def _curve_decision(self, request: _Request) -> Decision | PendingDecision:
        key = request.credentials[0]
        z85_key = z85.encode(key)
        domain = request.domain or "*"
        policy = self._curve.get(domain)
        if policy is None:
            return self._conclude(request, "400", "Unknown domain", peer=z85_key.decode())
        if isinstance(policy, _AllowAny):
            return self._settle(request, key, True, "OK (any key)")
        if isinstance(policy, CertificateStore):
            return self._settle(request, key, z85_key in policy)
        verdict = policy.callback(domain, z85_key)
        if inspect.isawaitable(verdict):
            return PendingDecision(self, request, key, verdict)
        return self._settle(request, key, verdict)

    def _settle(
        self, request: _Request, key: bytes, verdict: object, reason: str = "OK"
    ) -> Decision:
        peer = z85.encode(key).decode("ascii")
        try:
            if not verdict:
                return self._conclude(request, "400", "Unknown key", peer=peer)
            user_id = self.curve_user_id(key)
            if not isinstance(user_id, str):
                raise TypeError(f"curve_user_id() returned {type(user_id).__name__}, not str")
            return self._conclude(request, "200", reason, user_id.encode(self.encoding), peer)
        except Exception as error:
            return self._internal_error(request, error, peer)

    def _internal_error(self, request: _Request, error: BaseException, peer: str = "") -> Decision:
        if not peer and request.mechanism == "CURVE" and len(request.credentials) == 1:
            peer = z85.encode(request.credentials[0]).decode("ascii")
        return self._conclude(request, "500", "Internal error", peer=peer, error=error)

    def _text(self, raw: bytes) -> str:
        return raw.decode(self.encoding, "replace")

    def _conclude(
        self,
        request: _Request,
        status: str,
        reason: str,
        user_id: bytes = b"",
        peer: str = "",
        error: BaseException | None = None,
        level: int | None = None,
    ) -> Decision:
        decision = Decision(
            status,
            reason,
            user_id,
            request.mechanism,
            request.address,
            request.domain,
            peer,
            request.envelope,
            request.request_id,
        )
        self.log.log(
            _LEVELS[status] if level is None else level,
            "ZAP %s %s: mechanism=%s address=%s domain=%r peer=%r user_id=%r",
            status,
            reason,
            request.mechanism or "-",
            request.address or "-",
            request.domain,
            peer,
            self._text(user_id),
            exc_info=None if error is None else (type(error), error, error.__traceback__),
            extra={"zap_decision": decision},
        )
        return decision
