"""The ZAP core without sockets: request frames in, decisions and reply frames out."""

from __future__ import annotations

import logging
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import zmq
from zmq.utils import z85

from tests.auth.helpers import decision_log, write_pyzmq_public, zap_request
from tzmq.auth import CURVE_ALLOW_ANY, Decision, PendingDecision, ZAPPolicy

KEY = b"K" * 32
Z85_KEY = z85.encode(KEY)


def decide(policy: ZAPPolicy, frames: list[bytes]) -> Decision:
    outcome = policy.handle(frames)
    assert isinstance(outcome, Decision), outcome
    return outcome


class Later:
    """An awaitable that never runs here: the core only has to hand it over."""

    def __await__(self) -> Generator[Any, None, bool]:
        yield
        return True


class Provider:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, bytes]] = []

    def callback(self, domain: str, key: bytes) -> Any:
        self.calls.append((domain, key))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


# -- the reply ----------------------------------------------------------------------


def test_null_allowed_by_default_and_reply_frames() -> None:
    decision = decide(ZAPPolicy(), zap_request(request_id=b"abc", domain=b"global"))
    assert decision.allowed
    assert decision.reply == [b"\x00route", b"", b"1.0", b"abc", b"200", b"OK", b"anonymous", b""]


def test_envelope_of_several_routing_ids_is_echoed() -> None:
    envelope = (b"hop1", b"hop2", b"hop3")
    decision = decide(ZAPPolicy(), zap_request(envelope=envelope, request_id=b""))
    assert decision.reply[:4] == [*envelope, b""]
    assert decision.reply[4:6] == [b"1.0", b""]


def test_frames_may_be_any_bytes_like() -> None:
    frames: list[Any] = [memoryview(f) for f in zap_request()]
    frames[1] = bytearray(b"")
    assert decide(ZAPPolicy(), frames).allowed


# -- malformed requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"route"],
        [b"route", b"1.0", b"1", b"x", b"127.0.0.1", b"", b"NULL"],  # no delimiter
        [b"route", b""],
        [b"route", b"", b"1.0"],  # no request id
    ],
)
def test_unanswerable_requests_are_dropped_and_logged(frames: list[bytes]) -> None:
    with decision_log() as log:
        assert ZAPPolicy().handle(frames) is None
    assert [r.levelno for r in log.records] == [logging.ERROR]
    assert "dropped" in log.records[0].getMessage()


def test_frames_that_are_not_bytes_are_dropped() -> None:
    assert ZAPPolicy().handle(["not", "bytes"]) is None  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("frames", "status", "text"),
    [
        (zap_request(version=b"2.0"), "500", "Unsupported ZAP version"),
        (zap_request(version=b""), "500", "Unsupported ZAP version"),
        (zap_request()[:-1], "500", "Malformed request"),
        ([b"r", b"", b"1.0", b"1", b"", b"127.0.0.1"], "500", "Malformed request"),
        (zap_request(b""), "500", "Malformed request"),
        (zap_request(domain=b"d" * 256), "500", "Malformed request"),
        (zap_request(address=b"1" * 256), "500", "Malformed request"),
        (zap_request(identity=b"i" * 256), "500", "Malformed request"),
        (zap_request(b"M" * 256), "500", "Malformed request"),
        (zap_request(b"BOGUS"), "400", "Unsupported mechanism"),
        (zap_request(b"null"), "400", "Unsupported mechanism"),
        (zap_request(b"NULL", b"extra"), "400", "Invalid credentials"),
        (zap_request(b"PLAIN", b"admin"), "400", "Invalid credentials"),
        (zap_request(b"PLAIN", b"admin", b"secret", b"x"), "400", "Invalid credentials"),
        (zap_request(b"CURVE"), "400", "Invalid credentials"),
        (zap_request(b"CURVE", b"k" * 31), "400", "Invalid credentials"),
        (zap_request(b"CURVE", b"k" * 33), "400", "Invalid credentials"),
        (zap_request(b"CURVE", KEY, KEY), "400", "Invalid credentials"),
        (zap_request(b"GSSAPI"), "400", "Invalid credentials"),
    ],
)
def test_malformed_requests_get_the_documented_status(
    frames: list[bytes], status: str, text: str
) -> None:
    policy = ZAPPolicy()
    policy.allow("127.0.0.1")  # an allowed address must not let a malformed request through
    policy.configure_curve("*", CURVE_ALLOW_ANY)
    decision = decide(policy, frames)
    assert (decision.status_code, decision.status_text) == (status, text)
    assert decision.reply[-2:] == [b"", b""]
    assert decision.reply[:2] == frames[:2]


def test_fields_of_255_bytes_are_fine() -> None:
    frames = zap_request(domain=b"d" * 255, address=b"1" * 255, identity=b"i" * 255)
    assert decide(ZAPPolicy(), frames).allowed


# -- address lists --------------------------------------------------------------------


def test_allow_and_deny_are_exclusive() -> None:
    policy = ZAPPolicy()
    policy.allow("127.0.0.1")
    with pytest.raises(ValueError, match="not both"):
        policy.deny("10.0.0.1")
    policy = ZAPPolicy()
    policy.deny("10.0.0.1")
    with pytest.raises(ValueError, match="not both"):
        policy.allow("127.0.0.1")


def test_allow_rejects_what_is_not_an_ip_address() -> None:
    with pytest.raises(ValueError):
        ZAPPolicy().allow("localhost")
    with pytest.raises(ValueError):
        ZAPPolicy().deny("")
    with pytest.raises(TypeError):
        ZAPPolicy().allow(2130706433)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ZAPPolicy().deny(b"127.0.0.1")  # type: ignore[arg-type]


def test_allow_list() -> None:
    policy = ZAPPolicy()
    policy.allow("127.0.0.1", "::1")
    assert decide(policy, zap_request(address=b"127.0.0.1")).status_text == "Address allowed"
    assert decide(policy, zap_request(address=b"::ffff:127.0.0.1")).allowed
    assert decide(policy, zap_request(address=b"0:0::1")).allowed
    denied = decide(policy, zap_request(address=b"10.1.2.3"))
    assert (denied.status_code, denied.status_text) == ("400", "Address not allowed")
    assert not decide(policy, zap_request(address=b"")).allowed
    assert not decide(policy, zap_request(address=b"garbage")).allowed


def test_deny_list() -> None:
    policy = ZAPPolicy()
    policy.deny("10.1.2.3")
    denied = decide(policy, zap_request(address=b"::ffff:10.1.2.3"))
    assert (denied.status_code, denied.status_text) == ("400", "Address denied")
    assert decide(policy, zap_request(address=b"127.0.0.1")).allowed
    assert decide(policy, zap_request(address=b"garbage")).allowed


def test_an_allowed_address_still_needs_a_password() -> None:
    policy = ZAPPolicy()
    policy.allow("127.0.0.1")
    policy.configure_plain("*", {"admin": "secret"})
    assert not decide(policy, zap_request(b"PLAIN", b"admin", b"wrong")).allowed
    assert decide(policy, zap_request(b"PLAIN", b"admin", b"secret")).allowed
    denied = decide(policy, zap_request(b"PLAIN", b"admin", b"secret", address=b"10.0.0.1"))
    assert denied.status_text == "Address not allowed"


# -- PLAIN ----------------------------------------------------------------------------


def plain(username: bytes, password: bytes, domain: bytes = b"") -> list[bytes]:
    return zap_request(b"PLAIN", username, password, domain=domain)


def test_plain_denied_until_configured() -> None:
    decision = decide(ZAPPolicy(), plain(b"admin", b"secret"))
    assert (decision.status_code, decision.status_text) == ("400", "No passwords defined")


def test_plain_passwords_per_domain() -> None:
    policy = ZAPPolicy()
    policy.configure_plain("global", {"admin": "secret"})
    ok = decide(policy, plain(b"admin", b"secret", b"global"))
    assert (ok.status_code, ok.user_id, ok.peer) == ("200", b"admin", "admin")
    assert decide(policy, plain(b"admin", b"wrong", b"global")).status_text == "Invalid password"
    assert decide(policy, plain(b"nobody", b"secret", b"global")).status_text == "Invalid username"
    assert decide(policy, plain(b"admin", b"secret", b"other")).status_text == "Invalid domain"
    # "*" serves requests without a domain; it is not a wildcard for other names.
    assert decide(policy, plain(b"admin", b"secret")).status_text == "Invalid domain"
    policy.configure_plain("*", {"admin": "star"})
    assert decide(policy, plain(b"admin", b"star")).allowed
    assert not decide(policy, plain(b"admin", b"star", b"other")).allowed


def test_plain_mapping_is_live_and_none_removes_it() -> None:
    users = {"admin": "secret"}
    policy = ZAPPolicy()
    policy.configure_plain(passwords=users)
    users["later"] = "pw"
    assert decide(policy, plain(b"later", b"pw")).allowed
    policy.configure_plain()
    assert decide(policy, plain(b"admin", b"secret")).status_text == "No passwords defined"


def test_plain_passwords_compared_as_bytes() -> None:
    policy = ZAPPolicy()
    policy.configure_plain(passwords={"émile": "pässword", "x": "\ufffd"})
    assert decide(policy, plain("émile".encode(), "pässword".encode())).allowed
    assert not decide(policy, plain("émile".encode(), "pässword".encode("latin-1"))).allowed
    # An undecodable password must not match its replacement character.
    assert not decide(policy, plain(b"x", b"\xff")).allowed
    assert decide(policy, plain(b"\xff", b"x")).status_text == "Invalid username"


def test_plain_encoding_is_used() -> None:
    policy = ZAPPolicy(encoding="latin-1")
    policy.configure_plain(passwords={"émile": "pässword"})
    decision = decide(policy, plain("émile".encode("latin-1"), "pässword".encode("latin-1")))
    assert decision.allowed
    assert decision.user_id == "émile".encode("latin-1")


def test_plain_bad_stored_password_is_an_internal_error() -> None:
    policy = ZAPPolicy()
    policy.configure_plain(passwords={"admin": 1234})  # type: ignore[dict-item]
    with decision_log() as log:
        decision = decide(policy, plain(b"admin", b"1234"))
    assert (decision.status_code, decision.status_text) == ("500", "Internal error")
    assert log.records[-1].exc_info is not None


def test_configure_plain_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        ZAPPolicy().configure_plain("*", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ZAPPolicy().configure_plain(None, {})  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        ZAPPolicy().configure_plain("*", str(tmp_path / "missing"))


def test_plain_password_file_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_text("# czmq zauth format\nadmin=secret\n")
    policy = ZAPPolicy()
    policy.configure_plain("*", path)
    assert decide(policy, plain(b"admin", b"secret")).allowed
    # Written and read back within the same timestamp tick: still noticed.
    path.write_text("admin=changed\nguest=guest\n")
    assert not decide(policy, plain(b"admin", b"secret")).allowed
    assert decide(policy, plain(b"admin", b"changed")).allowed
    assert decide(policy, plain(b"guest", b"guest")).allowed
    path.unlink()
    with decision_log() as log:
        assert decide(policy, plain(b"guest", b"guest")).status_text == "Invalid username"
        assert not decide(policy, plain(b"guest", b"guest")).allowed
    unreadable = [r for r in log.records if "unreadable" in r.getMessage()]
    assert len(unreadable) == 1
    path.write_text("guest=back\n")
    assert decide(policy, plain(b"guest", b"back")).allowed


# -- CURVE ----------------------------------------------------------------------------


def curve(key: bytes = KEY, domain: bytes = b"") -> list[bytes]:
    return zap_request(b"CURVE", key, domain=domain)


def test_curve_denied_until_configured() -> None:
    decision = decide(ZAPPolicy(), curve())
    assert (decision.status_code, decision.status_text) == ("400", "Unknown domain")
    assert decision.peer == Z85_KEY.decode()


def test_curve_allow_any() -> None:
    policy = ZAPPolicy()
    policy.configure_curve("*", CURVE_ALLOW_ANY)
    decision = decide(policy, curve())
    assert decision.allowed
    assert decision.user_id == Z85_KEY


def test_curve_configuration_is_per_domain(tmp_path: Path) -> None:
    policy = ZAPPolicy()
    policy.configure_curve("open", CURVE_ALLOW_ANY)
    policy.configure_curve("closed", tmp_path)
    policy.configure_curve_callback("asked", Provider(True))
    assert decide(policy, curve(domain=b"open")).allowed
    assert decide(policy, curve(domain=b"closed")).status_text == "Unknown key"
    assert decide(policy, curve(domain=b"asked")).allowed
    assert decide(policy, curve(domain=b"")).status_text == "Unknown domain"
    # The last call for a domain wins.
    policy.configure_curve("open", tmp_path)
    assert not decide(policy, curve(domain=b"open")).allowed


def test_curve_certificate_directory_follows_files(tmp_path: Path) -> None:
    policy = ZAPPolicy()
    policy.configure_curve("*", tmp_path)
    assert decide(policy, curve()).status_text == "Unknown key"
    write_pyzmq_public(str(tmp_path / "client.key"), Z85_KEY)
    assert decide(policy, curve()).allowed
    (tmp_path / "client.key").rename(tmp_path / "client.key.disabled")
    assert not decide(policy, curve()).allowed
    (tmp_path / "client.key.disabled").rename(tmp_path / "client.key")
    assert decide(policy, curve()).allowed
    os.unlink(tmp_path / "client.key")
    assert not decide(policy, curve()).allowed


def test_configure_curve_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ZAPPolicy().configure_curve("*", tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        ZAPPolicy().configure_curve("*", tmp_path / "file")


def test_curve_sync_callback() -> None:
    policy = ZAPPolicy()
    yes, no = Provider(1), Provider(0)
    policy.configure_curve_callback("*", yes)
    policy.configure_curve_callback("global", no)
    assert decide(policy, curve()).allowed
    assert decide(policy, curve(domain=b"global")).status_text == "Unknown key"
    assert yes.calls == [("*", Z85_KEY)]
    assert no.calls == [("global", Z85_KEY)]


def test_curve_callback_errors_are_internal_errors() -> None:
    class BadBool:
        def __bool__(self) -> bool:
            raise RuntimeError("no truth")

    for answer in (RuntimeError("database down"), BadBool()):
        policy = ZAPPolicy()
        policy.configure_curve_callback("*", Provider(answer))
        with decision_log() as log:
            decision = decide(policy, curve())
        assert (decision.status_code, decision.status_text) == ("500", "Internal error")
        assert "database down" in log.text() or "no truth" in log.text()


def test_configure_curve_callback_needs_a_callback() -> None:
    for provider in (None, object(), type("P", (), {"callback": 1})()):
        with pytest.raises(TypeError):
            ZAPPolicy().configure_curve_callback("*", provider)  # type: ignore[arg-type]


def test_curve_async_callback_is_pending() -> None:
    policy = ZAPPolicy()
    later = Later()
    policy.configure_curve_callback("*", Provider(later))
    with decision_log() as log:
        pending = policy.handle(curve(domain=b""))
        assert isinstance(pending, PendingDecision)
        assert pending.verdict is later
        assert log.decisions == []
        decision = pending.resolve(True)
        assert decision.allowed
        assert decision.reply[:2] == [b"\x00route", b""]
        assert pending.resolve(False) is decision
        assert pending.fail(RuntimeError()) is decision
    assert log.decisions == [decision]

    denied = policy.handle(curve())
    assert isinstance(denied, PendingDecision)
    assert denied.resolve(None).status_text == "Unknown key"
    failed = policy.handle(curve())
    assert isinstance(failed, PendingDecision)
    assert failed.fail(TimeoutError("slow")).status_code == "500"
    assert Z85_KEY.decode() in repr(failed)
    with decision_log() as log:
        abandoned = policy.handle(curve())
        assert isinstance(abandoned, PendingDecision)
        decision = abandoned.abandon()
        assert (decision.status_code, decision.status_text) == ("500", "Authenticator stopped")
        assert abandoned.resolve(True) is decision
    assert [(r.levelno, r.exc_info) for r in log.records] == [(logging.WARNING, None)]


def test_curve_user_id_override() -> None:
    class Named(ZAPPolicy):
        def curve_user_id(self, client_public_key: bytes) -> str:
            return "user-" + client_public_key[:2].hex()

    policy = Named()
    policy.configure_curve("*", CURVE_ALLOW_ANY)
    assert decide(policy, curve()).user_id == b"user-4b4b"


@pytest.mark.parametrize("result", [RuntimeError("boom"), b"bytes", None])
def test_bad_curve_user_id_is_an_internal_error(result: Any) -> None:
    class Broken(ZAPPolicy):
        def curve_user_id(self, client_public_key: bytes) -> str:
            if isinstance(result, Exception):
                raise result
            return result  # type: ignore[no-any-return]

    policy = Broken()
    policy.configure_curve("*", CURVE_ALLOW_ANY)
    decision = decide(policy, curve())
    assert (decision.status_code, decision.user_id) == ("500", b"")


def test_default_curve_user_id_is_z85() -> None:
    public, _ = zmq.curve_keypair()
    assert ZAPPolicy().curve_user_id(z85.decode(public)) == public.decode()


# -- GSSAPI ---------------------------------------------------------------------------


def test_gssapi_principal_is_the_user_id() -> None:
    policy = ZAPPolicy()
    policy.configure_gssapi("*")
    decision = decide(policy, zap_request(b"GSSAPI", b"alice@EXAMPLE.COM"))
    assert (decision.allowed, decision.user_id) == (True, b"alice@EXAMPLE.COM")
    policy.deny("127.0.0.1")
    assert not decide(policy, zap_request(b"GSSAPI", b"alice@EXAMPLE.COM")).allowed


# -- logging --------------------------------------------------------------------------


def test_every_decision_is_logged_without_secrets(tmp_path: Path) -> None:
    policy = ZAPPolicy()
    policy.configure_plain("*", {"admin": "hunter2-secret"})
    policy.configure_curve_callback("*", Provider(RuntimeError("callback failed")))
    requests = [
        zap_request(),
        plain(b"admin", b"hunter2-secret"),
        plain(b"admin", b"wrong-hunter3"),
        plain(b"ghost", b"hunter4"),
        curve(),
        zap_request(b"PLAIN", b"admin", b"hunter2-secret", b"extra"),
        zap_request(b"PLAIN", b"admin", b"hunter5", version=b"9.9"),
        [b"route", b"1.0", b"1", b"x", b"127.0.0.1", b"id", b"PLAIN", b"admin", b"hunter6"],
    ]
    with decision_log() as log:
        for frames in requests:
            policy.handle(frames)
    assert len(log.decisions) == len(requests) - 1  # the last one was dropped
    levels = [r.levelno for r in log.records if hasattr(r, "zap_decision")]
    assert levels == [20, 20, 30, 30, 40, 30, 40]
    text = log.text()
    for secret in ("hunter", "wrong"):
        assert secret not in text
    for decision in log.decisions:
        assert decision.mechanism in text
    assert "mechanism=PLAIN address=127.0.0.1 domain='' peer='ghost'" in text
    assert Z85_KEY.decode() in text


def test_custom_logger() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.auth.custom")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    ZAPPolicy(log=logger).handle(zap_request())
    assert [r.zap_decision.status_code for r in records] == ["200"]  # type: ignore[attr-defined]


def test_unknown_encoding_fails_at_the_call() -> None:
    with pytest.raises(LookupError):
        ZAPPolicy(encoding="no-such-codec")
