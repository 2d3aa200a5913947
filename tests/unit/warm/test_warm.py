"""The warm interpreter (mer/warm/): a command forked from the server behaves as one started cold."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mer.warm.server import child_threads, exit_status, source_times, why_cold

from tests.helpers import REPO

WRAPPER = str(REPO / "utils" / "lib" / "warm_python")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running server and the environment that sends `-m mer.bin.*` to it."""
    d = tmp_path_factory.mktemp("warm")
    sock = d / "socket"
    env = dict(os.environ, MER_ROOT=str(REPO), MER_PYTHON_COLD=sys.executable, MER_WARM_SOCKET=str(sock),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "mer.warm.server", str(sock)], env=env,
                            stderr=open(d / "server.log", "w"))
    deadline = time.time() + 120
    while not sock.exists():
        assert proc.poll() is None, (d / "server.log").read_text()
        assert time.time() < deadline, "the warm server did not start in 120 s"
        time.sleep(0.2)
    yield env, proc
    proc.terminate()
    proc.wait(timeout=30)
    assert not sock.exists(), "the server leaves its socket behind"


def run(env, *args, cwd=None, stdin=None, timeout=120):
    return subprocess.run([WRAPPER, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def cold(env, *args, cwd=None, stdin=None):
    env = dict(env, MER_WARM_SOCKET=str(Path(env["MER_WARM_SOCKET"]).with_name("none")))
    return run(env, *args, cwd=cwd, stdin=stdin)


def test_output_exit_code_and_cwd_as_cold(server, tmp_path):
    env, _ = server
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train_x.yaml").write_text((REPO / "egs/mini/memocmt/conf/tuning/train_memocmt_min.yaml")
                                                    .read_text())
    for args in (("-m", "mer.bin.corpora", "list"),
                 ("-m", "mer.bin.exp_tag", "conf/train_x.yaml", "--override", "train.epochs=3"),
                 ("-m", "mer.bin.exp_tag", "conf/missing.yaml"),
                 ("-m", "mer.bin.no_such_tool")):
        warm, ref = run(env, *args, cwd=tmp_path), cold(env, *args, cwd=tmp_path)
        assert (warm.returncode, warm.stdout) == (ref.returncode, ref.stdout), args
        assert ref.stderr.splitlines()[-1:] == warm.stderr.splitlines()[-1:], args
    assert run(env, "-m", "mer.bin.exp_tag", "conf/train_x.yaml", cwd=tmp_path).stdout.strip() == "train_x"
    assert run(env, "-m", "mer.bin.exp_tag", "conf/missing.yaml", cwd=tmp_path).returncode == 1


def test_stdin_and_environment_reach_the_command(server, tmp_path):
    env, _ = server
    # run_jobs passes its environment on to its job
    out = run(dict(env, MER_TEST_VALUE="from-the-client"), "-m", "mer.bin.run_jobs", str(tmp_path / "log"),
              "bash", "-c", 'echo "value=$MER_TEST_VALUE"')
    assert out.returncode == 0, out.stderr
    assert "value=from-the-client" in (tmp_path / "log").read_text()
    # a combiner plan read from standard input: its bad line named, as cold
    plan = "not-a-plan-line-1234\n"
    warm, ref = (f(env, "-m", "mer.bin.combine", "--plan", "-", cwd=tmp_path, stdin=plan) for f in (run, cold))
    assert warm.returncode == ref.returncode != 0
    assert ref.stderr.splitlines()[-1] == warm.stderr.splitlines()[-1]
    assert "not-a-plan-line-1234" in warm.stderr


def start_sleeping_job(env, tmp_path) -> tuple[subprocess.Popen, str]:
    """A warm run_jobs whose job sleeps, once the job runs: (its client, the job's unique command)."""
    job = f"sleep 3{os.getpid()}.{time.time_ns() % 100000}"
    client = subprocess.Popen([WRAPPER, "-m", "mer.bin.run_jobs", str(tmp_path / "log"), job], env=env)
    assert wait_for(lambda: pgrep(job)), "the job did not start"
    return client, job


def test_a_signal_to_the_client_reaches_the_command(server, tmp_path):
    client, job = start_sleeping_job(server[0], tmp_path)
    client.send_signal(signal.SIGTERM)
    client.wait(timeout=60)
    assert client.returncode != 0
    assert wait_for(lambda: not pgrep(job)), "the command outlived the signal"


def test_a_killed_client_takes_its_command_along(server, tmp_path):
    client, job = start_sleeping_job(server[0], tmp_path)
    client.kill()
    client.wait(timeout=30)
    assert wait_for(lambda: not pgrep(job)), "the command outlived its killed client"


def test_when_a_command_runs_cold():
    base = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": "/a:/b", "OMP_NUM_THREADS": "2", "HOME": "/root"}
    req = {"argv": ["-m", "mer.bin.train", "--help"], "env": dict(base)}
    assert why_cold(req, base) is None
    # applied per child, or the same entries in another order / repeated
    assert why_cold(dict(req, env=dict(base, OMP_NUM_THREADS="1", PYTHONPATH="/b:/a:/a", HOME="/x")), base) is None
    assert "HF_HUB_OFFLINE" in why_cold(dict(req, env=dict(base, HF_HUB_OFFLINE="0")), base)
    assert "TRANSFORMERS_CACHE" in why_cold(dict(req, env=dict(base, TRANSFORMERS_CACHE="/c")), base)
    assert "PYTHONPATH" in why_cold(dict(req, env=dict(base, PYTHONPATH="/a:/c")), base)
    assert why_cold(dict(req, argv=["-c", "print(1)"]), base)
    assert why_cold(dict(req, argv=["-m", "torch.distributed.run"]), base)


def test_a_source_changed_since_the_servers_imports_sends_commands_cold(tmp_path):
    base = {"HOME": "/root"}
    req = {"argv": ["-m", "mer.bin.train", "--help"], "env": dict(base)}
    sources = source_times()
    assert str(Path(sys.modules["mer.warm.server"].__file__)) in sources
    module = tmp_path / "cmvn.py"
    module.write_text("x = 1\n")
    sources[str(module)] = os.stat(module).st_mtime_ns
    assert why_cold(req, base, sources) is None
    os.utime(module, ns=(0, os.stat(module).st_mtime_ns + 10**9))  # the tree updated under a running recipe
    assert why_cold(req, base, sources) == f"{module} changed since the server imported it"
    module.unlink()
    assert "changed since the server imported it" in why_cold(req, base, sources)


def test_threads_and_exit_status():
    assert child_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert child_threads({}) == len(os.sched_getaffinity(0))
    assert exit_status(3 << 8) == {"exit": 3}
    assert exit_status(signal.SIGTERM) == {"signal": signal.SIGTERM}


def pgrep(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def wait_for(cond, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False
