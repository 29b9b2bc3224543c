"""create_certificates: the czmq/pyzmq format both ways, file modes, atomic replacement."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st
from zmq.utils import z85

from tests.auth.helpers import PYZMQ_SECRET, write_pyzmq_public
from tzmq.auth import CertificateStore, create_certificates, load_certificate, load_certificates

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def pyzmq_style_read(path: str) -> tuple[bytes | None, bytes | None]:
    """Read a certificate the way pyzmq's loader does, to prove our files suit it.

    pyzmq scans lines: after stripping, a line starting with ``public-key`` or
    ``secret-key`` holds the key after the first ``=``, with spaces, tabs and
    both quote characters stripped from its ends; comment lines are skipped.
    """
    keys: dict[bytes, bytes] = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith(b"#"):
                continue
            for name in (b"public-key", b"secret-key"):
                if line.startswith(name):
                    keys[name] = line.split(b"=", 1)[1].strip(b" \t'\"")
    return keys.get(b"public-key"), keys.get(b"secret-key")


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def test_created_files_round_trip(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "server")
    assert (public_file, secret_file) == (
        str(tmp_path / "server.key"),
        str(tmp_path / "server.key_secret"),
    )
    public, none = load_certificate(public_file)
    same_public, secret = load_certificate(secret_file)
    assert none is None and same_public == public and secret is not None
    assert z85.decode(public) != z85.decode(secret)
    # The pair is a real CURVE pair.
    assert zmq.curve_public(secret) == public
    # Readable the way pyzmq reads.
    assert pyzmq_style_read(public_file) == (public, None)
    assert pyzmq_style_read(secret_file) == (public, secret)
    assert load_certificates(tmp_path) == {public: True}
    assert sorted(os.listdir(tmp_path)) == ["server.key", "server.key_secret"]


def test_created_files_look_like_pyzmq_and_czmq_files(tmp_path: Path) -> None:
    public_file, secret_file = create_certificates(tmp_path, "alice", {"name": "Alice"})
    public, secret = load_certificate(secret_file)
    assert secret is not None
    text = Path(secret_file).read_text()
    assert text.startswith("#   ****  Generated on ")
    assert text.endswith(
        "metadata\n"
        '    name = "Alice"\n'
        "curve\n"
        f'    public-key = "{public.decode()}"\n'
        f'    secret-key = "{secret.decode()}"\n'
    )
    assert 'name = "Alice"' in Path(public_file).read_text()


def test_pyzmq_files_load(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    write_pyzmq_public(str(tmp_path / "old.key"), public)
    (tmp_path / "old.key_secret").write_text(
        PYZMQ_SECRET.format(public=public.decode(), secret=secret.decode())
    )
    assert load_certificate(tmp_path / "old.key") == (public, None)
    assert load_certificate(tmp_path / "old.key_secret") == (public, secret)
    new_public = load_certificate(create_certificates(tmp_path, "new")[0])[0]
    assert load_certificates(tmp_path) == {public: True, new_public: True}


@posix_only
@pytest.mark.parametrize(("mask", "public_mode"), [(0o022, 0o644), (0o000, 0o666), (0o077, 0o600)])
def test_file_modes(tmp_path: Path, umask: Any, mask: int, public_mode: int) -> None:
    umask(mask)
    public_file, secret_file = create_certificates(tmp_path, "mode")
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(public_file).st_mode) == public_mode


@posix_only
def test_secret_file_is_created_private_not_chmoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: Any
) -> None:
    umask(0)
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        opened.append((os.fspath(path), mode))
        return real_open(path, flags, mode, **kwargs)

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("permissions must be set when the file is created")

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    create_certificates(tmp_path, "private")
    assert [mode for _, mode in opened] == [0o600, 0o666]
    assert stat.S_IMODE(os.stat(tmp_path / "private.key_secret").st_mode) == 0o600


@posix_only
def test_replacing_a_world_readable_secret_file(tmp_path: Path) -> None:
    old = tmp_path / "server.key_secret"
    old.write_text("old secret, written 0644 by an older tool\n")
    os.chmod(old, 0o644)
    create_certificates(tmp_path, "server")
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert load_certificate(old)[1] is not None


def test_certificates_are_replaced_whole(tmp_path: Path) -> None:
    first = load_certificate(create_certificates(tmp_path, "s")[1])
    second = load_certificate(create_certificates(tmp_path, "s")[1])
    assert first != second
    assert load_certificates(tmp_path) == {second[0]: True}
    assert sorted(os.listdir(tmp_path)) == ["s.key", "s.key_secret"]


def test_store_sees_created_certificates_at_once(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    assert store.keys() == frozenset()
    public = load_certificate(create_certificates(tmp_path, "a")[0])[0]
    assert public in store
    os.unlink(tmp_path / "a.key")
    assert public not in store


@pytest.mark.parametrize("name", ["", ".", "..", "sub/name", os.sep.join(["a", "b"])])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        create_certificates(tmp_path, name)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "metadata",
    [
        {"bad name": "x"},
        {"": "x"},
        {"k": "two\nlines"},
        {"k": "both \" and '"},
        # pyzmq's reader would take these lines for the keys.
        {"public-key": "x"},
        {"secret-key": "x"},
    ],
)
def test_bad_metadata_writes_nothing(tmp_path: Path, metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        create_certificates(tmp_path, "m", metadata)
    assert os.listdir(tmp_path) == []


def test_metadata_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        create_certificates(tmp_path, "m", {"k": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        create_certificates(tmp_path, 7)  # type: ignore[arg-type]
    _, secret_file = create_certificates(tmp_path, "m", {b"k": b"v", "q": 'say "hi"'})
    text = Path(secret_file).read_text()
    assert '    k = "v"\n' in text
    assert "    q = 'say \"hi\"'\n" in text


def test_missing_directory_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        create_certificates(tmp_path / "missing", "x")


def test_failure_after_the_first_file_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        create_certificates(tmp_path, "x")
    assert os.listdir(tmp_path) == []


metadata_names = st.from_regex(r"[A-Za-z0-9$\-_@.&+/]{1,12}", fullmatch=True)
metadata_values = st.text(
    st.characters(blacklist_characters='\n\r"', blacklist_categories=["Cs"]), max_size=20
)


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        metadata_names.filter(lambda n: not n.startswith(("public-key", "secret-key"))),
        metadata_values,
        max_size=4,
    )
)
def test_any_valid_metadata_keeps_the_keys_loadable(metadata: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        public_file, secret_file = create_certificates(directory, "h", metadata)
        public, secret = load_certificate(secret_file)
        assert load_certificate(public_file) == (public, None)
        assert pyzmq_style_read(secret_file) == (public, secret)
