"""tzmq.compat: names replaced and restored, too-late imports reported, the run wrapper.

Each case runs in a fresh interpreter: install() changes process-wide state.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TIMEOUT = 60


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def check(code: str) -> str:
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_install_replaces_and_uninstall_restores() -> None:
    out = check(
        """
        import asyncio, warnings
        warnings.simplefilter("error")
        import zmq.eventloop.zmqstream as zs, zmq.eventloop.future as zf
        import zmq.log.handlers as lh
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import zmq.auth.ioloop as ai
        originals = (zs.ZMQStream, zf.Context, zf.Socket, zf.Poller,
                     lh.PUBHandler, ai.IOLoopAuthenticator)
        import tzmq, tzmq.log, tzmq.auth
        from tzmq import compat
        assert not compat.installed()
        assert compat.install() == []
        assert compat.install() == []          # idempotent
        assert zs.ZMQStream is tzmq.ZMQStream
        assert (zf.Context, zf.Socket, zf.Poller) == (tzmq.Context, tzmq.Socket, tzmq.Poller)
        assert zf.CancelledError is asyncio.CancelledError
        assert lh.PUBHandler is tzmq.log.PUBHandler and lh.TopicLogger is tzmq.log.TopicLogger
        assert ai.IOLoopAuthenticator is tzmq.auth.IOLoopAuthenticator
        from zmq.eventloop.zmqstream import ZMQStream      # imported after: tzmq's
        assert ZMQStream is tzmq.ZMQStream
        compat.uninstall()
        compat.uninstall()                     # idempotent
        assert (zs.ZMQStream, zf.Context, zf.Socket, zf.Poller, lh.PUBHandler,
                ai.IOLoopAuthenticator) == originals
        assert not compat.installed()
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_install_says_when_it_is_too_late() -> None:
    out = check(
        """
        import sys, types, warnings
        from zmq.eventloop.zmqstream import ZMQStream
        early = types.ModuleType("early_user"); early.ZMQStream = ZMQStream
        sys.modules["early_user"] = early
        from tzmq import compat
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stale = compat.install()
        assert any(s.startswith("early_user.ZMQStream") for s in stale), stale
        (warning,) = [w for w in caught if issubclass(w.category, compat.CompatWarning)]
        assert "early_user.ZMQStream" in str(warning.message)
        assert "too late" in str(warning.message)
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_tzmq_alone_never_imports_pyzmq_layers() -> None:
    out = check(
        """
        import sys
        import tzmq, tzmq.stream, tzmq.auth, tzmq.log, tzmq.compat
        layers = ("zmq.eventloop", "zmq.asyncio", "zmq._future", "zmq.auth", "zmq.log",
                  "zmq.utils.monitor", "zmq.devices")
        loaded = sorted(m for m in sys.modules if m.startswith(layers))
        assert not loaded, loaded
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_run_wrapper_runs_a_script_on_tzmq(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from zmq.eventloop.zmqstream import ZMQStream
            print(ZMQStream.__module__, sys.argv[1:], __name__)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "tzmq.compat", "run", str(script), "-f", "x.json"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tzmq.stream.zmqstream ['-f', 'x.json'] __main__"


def test_run_wrapper_runs_a_module(tmp_path: Path) -> None:
    (tmp_path / "probe_mod.py").write_text(
        "import sys\n"
        "from zmq.eventloop import future\n"
        "print(future.Socket.__module__, sys.argv[1:])\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "tzmq.compat", "run", "-m", "probe_mod", "--opt"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tzmq.stream.future ['--opt']"


def test_run_wrapper_usage_errors() -> None:
    for args in ([], ["run"], ["run", "-m"], ["walk", "x.py"]):
        result = subprocess.run(
            [sys.executable, "-m", "tzmq.compat", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 2, (args, result)
        assert "usage:" in result.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "tzmq.compat", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert helped.returncode == 0 and "usage:" in helped.stdout
