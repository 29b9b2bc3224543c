"""Property tests: whatever frames reach the ZAP core, it answers per RFC 27 and never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zmq.utils import z85

from tests.auth.helpers import zap_request
from tzmq.auth import CURVE_ALLOW_ANY, Decision, PendingDecision, ZAPPolicy
from tzmq.auth.passwords import parse_passwords

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD_KEY = b"G" * 32
PASSWORDS = {"admin": "secret", "émile": "pässword"}
STATUSES = {b"200", b"400", b"500"}


class Awaitable:
    def __await__(self) -> Any:
        yield
        return True


class Provider:
    """Answers from a hypothesis-drawn script: a value, an awaitable or an exception."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    def callback(self, domain: str, key: bytes) -> Any:
        answer = self.answers.pop(0) if self.answers else False
        if isinstance(answer, BaseException):
            raise answer
        return answer


def make_policy(address_mode: str, answers: list[Any]) -> ZAPPolicy:
    policy = ZAPPolicy()
    if address_mode == "allow":
        policy.allow("127.0.0.1", "::1")
    elif address_mode == "deny":
        policy.deny("10.0.0.1")
    policy.configure_plain("*", PASSWORDS)
    policy.configure_plain("global", {"admin": "other"})
    policy.configure_curve("any", CURVE_ALLOW_ANY)
    policy.configure_curve_callback("*", Provider(answers))
    return policy


def check_reply(frames: list[bytes], decision: Decision) -> None:
    """The reply invariants of RFC 27, for a request that could be answered."""
    delimiter = frames.index(b"")
    reply = decision.reply
    assert reply[: delimiter + 1] == frames[: delimiter + 1]
    body = reply[delimiter + 1 :]
    assert len(body) == 6
    version, request_id, status, text, user_id, metadata = body
    assert version == b"1.0"
    assert request_id == frames[delimiter + 2]
    assert status in STATUSES
    assert status == decision.status_code.encode()
    assert len(text) <= 255
    text.decode("ascii")
    assert metadata == b""
    if status != b"200":
        assert user_id == b""


answer = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(),
    st.text(max_size=3),
    st.just(Awaitable()),
    st.sampled_from([RuntimeError("x"), ValueError("y"), KeyError("z")]),
)

frame = st.one_of(
    st.just(b""),
    st.sampled_from([b"1.0", b"NULL", b"PLAIN", b"CURVE", b"GSSAPI", b"127.0.0.1", GOOD_KEY]),
    st.binary(max_size=40),
    st.binary(min_size=250, max_size=260),
)


@SETTINGS
@given(
    frames=st.lists(frame, max_size=12),
    address_mode=st.sampled_from(["none", "allow", "deny"]),
    answers=st.lists(answer, max_size=2),
)
def test_random_frames_always_get_an_rfc_answer(
    frames: list[bytes], address_mode: str, answers: list[Any]
) -> None:
    policy = make_policy(address_mode, answers)
    outcome = policy.handle(frames)
    answerable = b"" in frames and len(frames) - frames.index(b"") - 1 >= 2
    if not answerable:
        assert outcome is None
        return
    assert outcome is not None
    if isinstance(outcome, PendingDecision):
        outcome = outcome.resolve(True)
    check_reply(frames, outcome)


mechanism = st.sampled_from(
    [b"NULL", b"PLAIN", b"PLAIN", b"CURVE", b"CURVE", b"CURVE", b"GSSAPI", b"BOGUS", b""]
)
credential = st.one_of(
    st.sampled_from([b"admin", b"secret", b"other", "émile".encode(), "pässword".encode()]),
    st.just(GOOD_KEY),
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=40),
)
COUNTS = {b"NULL": 0, b"PLAIN": 2, b"CURVE": 1, b"GSSAPI": 1}


@st.composite
def credentials_for(draw: st.DrawFn, mech: bytes) -> list[bytes]:
    """Mostly the right number of credentials for the mechanism, sometimes not."""
    if mech not in COUNTS or draw(st.integers(0, 4)) == 0:
        return draw(st.lists(credential, max_size=3))
    if mech == b"PLAIN":
        username = draw(st.sampled_from([b"admin", "émile".encode(), b"nobody", b"\xff"]))
        password = draw(st.sampled_from([b"secret", b"other", "pässword".encode(), b"x"]))
        return [username, password]
    if mech == b"CURVE":
        return [draw(st.one_of(st.just(GOOD_KEY), st.binary(min_size=32, max_size=32)))]
    return [draw(credential) for _ in range(COUNTS[mech])]


@st.composite
def mechanism_and_credentials(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    mech = draw(mechanism)
    return mech, draw(credentials_for(mech))


@SETTINGS
@given(
    version=st.sampled_from([b"1.0"] * 8 + [b"1.1", b""]),
    request_id=st.binary(max_size=8),
    domain=st.sampled_from([b"", b"", b"", b"global", b"any", b"nowhere", b"\xff\xfe"]),
    address=st.sampled_from(
        [b"127.0.0.1", b"127.0.0.1", b"::1", b"::ffff:10.0.0.1", b"10.0.0.1", b"", b"?"]
    ),
    identity=st.binary(max_size=8),
    mech_credentials=mechanism_and_credentials(),
    envelope=st.lists(st.binary(min_size=1, max_size=6), max_size=3),
    address_mode=st.sampled_from(["none", "allow", "deny"]),
    answers=st.lists(answer, max_size=2),
    settle=st.one_of(answer, st.sampled_from([TimeoutError("slow")])),
)
def test_well_framed_requests_follow_the_policy(
    version: bytes,
    request_id: bytes,
    domain: bytes,
    address: bytes,
    identity: bytes,
    mech_credentials: tuple[bytes, list[bytes]],
    envelope: list[bytes],
    address_mode: str,
    answers: list[Any],
    settle: Any,
) -> None:
    mech, credentials = mech_credentials
    policy = make_policy(address_mode, list(answers))
    frames = zap_request(
        mech,
        *credentials,
        domain=domain,
        address=address,
        identity=identity,
        request_id=request_id,
        version=version,
        envelope=tuple(envelope),
    )
    outcome = policy.handle(frames)
    assert outcome is not None
    if isinstance(outcome, PendingDecision):
        assert (mech, domain) == (b"CURVE", b"")
        if isinstance(settle, BaseException):
            outcome = outcome.fail(settle)
        else:
            outcome = outcome.resolve(settle)
    check_reply(frames, outcome)
    expected = model(version, domain, address, mech, credentials, address_mode, answers, settle)
    assert outcome.status_code == expected, (outcome, expected)
    if expected == "200" and mech == b"NULL":
        assert outcome.user_id == b"anonymous"
    elif expected == "200" and mech == b"CURVE":
        assert outcome.user_id == z85.encode(credentials[0])
    elif expected == "200":
        assert outcome.user_id == credentials[0]


def model(
    version: bytes,
    domain: bytes,
    address: bytes,
    mech: bytes,
    credentials: list[bytes],
    address_mode: str,
    answers: list[Any],
    settle: Any,
) -> str:
    """The status `make_policy`'s configuration should give, worked out the long way."""
    if version != b"1.0" or not mech:
        return "500"
    if mech not in COUNTS or len(credentials) != COUNTS[mech]:
        return "400"
    if mech == b"CURVE" and len(credentials[0]) != 32:
        return "400"
    if address_mode == "allow" and address not in (b"127.0.0.1", b"::1"):
        return "400"
    if address_mode == "deny" and address in (b"10.0.0.1", b"::ffff:10.0.0.1"):
        return "400"
    if mech in (b"NULL", b"GSSAPI"):
        return "200"
    if mech == b"PLAIN":
        tables = {b"": PASSWORDS, b"global": {"admin": "other"}}
        table = tables.get(domain)
        try:
            stored = None if table is None else table.get(credentials[0].decode())
        except UnicodeDecodeError:
            stored = None
        return "200" if stored is not None and stored.encode() == credentials[1] else "400"
    if domain == b"any":
        return "200"
    if domain != b"":
        return "400"
    verdict = answers[0] if answers else False
    if isinstance(verdict, Awaitable):
        verdict = settle
    if isinstance(verdict, BaseException):
        return "500"
    return "200" if verdict else "400"


usernames = st.text(
    st.characters(blacklist_characters="=\n\r", blacklist_categories=["Cs"]), min_size=1
).filter(lambda u: not u.startswith("#"))
passwords = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]))


@SETTINGS
@given(st.dictionaries(usernames, passwords), st.sampled_from(["\n", "\r\n"]))
def test_password_file_round_trip(users: dict[str, str], newline: str) -> None:
    lines = ["# a comment", "no equals sign", "=starts with equals"]
    lines += [f"{user}={password}" for user, password in users.items()]
    assert parse_passwords(newline.join(lines).encode()) == users


@SETTINGS
@given(st.binary(max_size=200))
def test_password_file_parser_takes_any_bytes(data: bytes) -> None:
    for user, password in parse_passwords(data).items():
        assert "=" not in user and "\n" not in user + password
        assert not user.startswith("#")
        assert user.encode("utf-8", "surrogateescape") in data
