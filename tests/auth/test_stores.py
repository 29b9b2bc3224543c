"""The stores behind the policy: change detection, the password file, the certificate store."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.auth.helpers import PYZMQ_SECRET, decision_log, write_pyzmq_public
from tzmq.auth import CertificateStore, PasswordFile, certs, load_certificate, load_certificates
from tzmq.auth._filewatch import RACY_SECONDS, ChangeWatch


def age(path: Path, seconds: float) -> None:
    """Set the mtime ``seconds`` into the past, as if the last change were that old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- ChangeWatch ----------------------------------------------------------------------


def test_change_watch_trusts_only_settled_timestamps(tmp_path: Path) -> None:
    watch = ChangeWatch(str(tmp_path))
    assert watch.changed()
    # Modified just now: a change within the same timestamp tick could follow
    # unseen, so every check says "re-read".
    assert watch.changed()
    assert watch.changed()
    age(tmp_path, RACY_SECONDS + 1)
    assert watch.changed()  # new mtime
    assert not watch.changed()
    assert not watch.changed()
    (tmp_path / "new").write_text("")
    assert watch.changed()


def test_change_watch_sees_a_change_that_kept_the_mtime(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("one")
    age(path, RACY_SECONDS / 4)
    stamp = path.stat().st_mtime_ns
    watch = ChangeWatch(str(path))
    assert watch.changed()
    # A coarse clock gives a change in the same tick the same mtime: simulate
    # it with a same-size rewrite and the old mtime put back.
    path.write_text("two")
    os.utime(path, ns=(stamp, stamp))
    assert watch.changed()
    age(path, RACY_SECONDS + 1)
    assert watch.changed()
    assert not watch.changed()


def test_change_watch_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "later"
    watch = ChangeWatch(str(path))
    assert watch.changed()
    assert not watch.changed()
    path.write_text("x")
    assert watch.changed()
    path.unlink()
    assert watch.changed()
    assert not watch.changed()


# -- PasswordFile ---------------------------------------------------------------------


def test_password_file_format(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_bytes(
        b"# comment=ignored\r\n"
        b"admin=secret\r\n"
        b"=nobody\n"
        b"no equals\n"
        b"spaced = with spaces \n"
        b"eq=pa=ss\n"
        b"admin=later wins\n"
        b"bin=\xff\xfe\n"
        b"last=no newline"
    )
    table = PasswordFile(path).passwords()
    assert dict(table) == {
        "admin": "later wins",
        "spaced ": " with spaces ",
        "eq": "pa=ss",
        "bin": b"\xff\xfe".decode("utf-8", "surrogateescape"),
        "last": "no newline",
    }


def test_password_file_same_size_rewrite_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_text("admin=aaaaaa\n")
    passwords = PasswordFile(path)
    assert passwords.passwords() == {"admin": "aaaaaa"}
    path.write_text("admin=bbbbbb\n")
    assert passwords.passwords() == {"admin": "bbbbbb"}


def test_password_file_must_exist_when_configured(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PasswordFile(tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        PasswordFile(tmp_path)


# -- certificates ---------------------------------------------------------------------


def keypair() -> tuple[bytes, bytes]:
    public, secret = zmq.curve_keypair()
    return public, secret


def test_load_pyzmq_certificates(tmp_path: Path) -> None:
    public, secret = keypair()
    write_pyzmq_public(str(tmp_path / "alice.key"), public)
    (tmp_path / "alice.key_secret").write_text(
        PYZMQ_SECRET.format(public=public.decode(), secret=secret.decode())
    )
    assert load_certificate(tmp_path / "alice.key") == (public, None)
    assert load_certificate(str(tmp_path / "alice.key_secret")) == (public, secret)
    assert load_certificates(tmp_path) == {public: True}


def test_load_czmq_certificate_with_metadata_and_single_quotes(tmp_path: Path) -> None:
    public, secret = keypair()
    (tmp_path / "bob.key_secret").write_text(
        "#   ****  Generated on 2024-05-01 by CZMQ  ****\n"
        "#   ZeroMQ CURVE **Secret** Certificate\n"
        "\n"
        "metadata\n"
        '    name = "Bob"\n'
        '    email = "public-key = nope"\n'
        "curve\n"
        f"    public-key = '{public.decode()}'\n"
        f"\tsecret-key = {secret.decode()}\n"
    )
    assert load_certificate(tmp_path / "bob.key_secret") == (public, secret)


@pytest.mark.parametrize(
    "text",
    [
        "",
        'metadata\n    public-key = "{public}"\n',  # not under curve
        'curve\n    public-key = "short"\n',
        'curve\n    public-key = "{bad}"\n',
        'curve\n    public-key = "{public}"\n    secret-key = "x"\n',
    ],
)
def test_load_certificate_rejects_invalid_files(tmp_path: Path, text: str) -> None:
    public, _ = keypair()
    path = tmp_path / "bad.key"
    path.write_text(text.format(public=public.decode(), bad="#" * 40))
    with pytest.raises(ValueError, match=r"bad\.key"):
        load_certificate(path)
    with pytest.raises(ValueError):
        load_certificates(tmp_path)


def test_load_certificates_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_certificate(tmp_path / "missing.key")
    with pytest.raises(FileNotFoundError):
        load_certificates(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        load_certificates(tmp_path / "file")


def test_load_certificates_reads_only_key_files(tmp_path: Path) -> None:
    public, _ = keypair()
    other, _ = keypair()
    write_pyzmq_public(str(tmp_path / "a.key"), public)
    write_pyzmq_public(str(tmp_path / "b.key.old"), other)
    write_pyzmq_public(str(tmp_path / "c.key_secret"), other)
    (tmp_path / "dir.key").mkdir()
    assert load_certificates(tmp_path) == {public: True}


def test_certificate_store_skips_bad_files_once(tmp_path: Path) -> None:
    public, _ = keypair()
    write_pyzmq_public(str(tmp_path / "good.key"), public)
    (tmp_path / "bad.key").write_text("curve\n")
    with decision_log() as log:
        store = CertificateStore(tmp_path)
        assert public in store
        for _ in range(3):  # the directory is fresh: each lookup re-reads it
            assert store.keys() == {public}
    skipped = [r for r in log.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1
    assert "bad.key" in skipped[0].getMessage()
    assert repr(store) == f"<CertificateStore {str(tmp_path)!r}>"


def test_certificate_store_directory_vanishes_and_returns(tmp_path: Path) -> None:
    public, _ = keypair()
    location = tmp_path / "keys"
    location.mkdir()
    write_pyzmq_public(str(location / "a.key"), public)
    store = CertificateStore(location)
    assert public in store
    (location / "a.key").rename(tmp_path / "a.key")
    location.rmdir()
    with decision_log() as log:
        assert public not in store
        assert public not in store
    assert len([r for r in log.records if "unreadable" in r.getMessage()]) == 1
    location.mkdir()
    (tmp_path / "a.key").rename(location / "a.key")
    assert public in store


def test_certificate_store_is_cheap_once_settled(tmp_path: Path) -> None:
    public, _ = keypair()
    write_pyzmq_public(str(tmp_path / "a.key"), public)
    age(tmp_path, RACY_SECONDS + 1)
    store = CertificateStore(tmp_path)
    scans = 0
    rescan = store._rescan

    def counting() -> None:
        nonlocal scans
        scans += 1
        rescan()

    store._rescan = counting  # type: ignore[method-assign]
    for _ in range(100):
        assert public in store
    assert scans == 0
    (tmp_path / "a.key").unlink()
    assert public not in store
    assert scans == 1


def test_certificate_store_reads_only_new_or_changed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_keys = [keypair()[0] for _ in range(5)]
    for i, public in enumerate(old_keys):
        write_pyzmq_public(str(tmp_path / f"old{i}.key"), public)
        age(tmp_path / f"old{i}.key", RACY_SECONDS + 1)
    store = CertificateStore(tmp_path)
    read: list[str] = []
    real_load = certs.load_certificate

    def counting_load(path: Any) -> tuple[bytes, bytes | None]:
        read.append(os.path.basename(path))
        return real_load(path)

    monkeypatch.setattr(certs, "load_certificate", counting_load)
    new = keypair()[0]
    write_pyzmq_public(str(tmp_path / "new.key"), new)
    assert store.keys() == {*old_keys, new}
    assert read == ["new.key"]
    # A file rewritten in place is read again at the next directory change.
    replaced = keypair()[0]
    write_pyzmq_public(str(tmp_path / "old0.key"), replaced)
    (tmp_path / "unrelated").write_text("")
    assert replaced in store and old_keys[0] not in store
    assert "old0.key" in read
