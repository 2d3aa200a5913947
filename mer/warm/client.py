"""Run `python -m mer.bin.<tool> ...` in a child of the warm server (server.py), as if it were started here.

Started by utils/lib/warm_python as `$MER_PYTHON_COLD -I -S client.py -m mer.bin.<tool> ARGS...`: the
standard library only (it must start in milliseconds). It hands the server the arguments, the working
directory, the environment and its own standard streams, forwards the signals it receives to the
child, and exits as the child did (the same code, or the same signal). Where no server answers, or the
server declines (an environment the preloaded libraries read at import differs), it becomes the
command itself: `exec $MER_PYTHON_COLD ARGS...`.
"""
import json
import os
import signal
import socket
import struct
import sys

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def run_cold(args):
    cold = os.environ["MER_PYTHON_COLD"]
    os.execv(cold, [cold, *args])


def read_line(sock, buf):
    """One JSON line from the server (buf: bytes already received), or None at end of stream."""
    while b"\n" not in buf[0]:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\n", 1)
    return json.loads(line)


def main(args):
    path = os.environ.get("MER_WARM_SOCKET", "")
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        mask = os.umask(0)
        os.umask(mask)
        request = json.dumps({"argv": args, "cwd": os.getcwd(), "env": dict(os.environ), "umask": mask}).encode()
        socket.send_fds(sock, [struct.pack("!Q", len(request))], [0, 1, 2])
        sock.sendall(request)
        buf = [b""]
        reply = read_line(sock, buf)
    except OSError:
        reply = None
    if reply is None or "cold" in reply:
        run_cold(args)
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, frame: sock.sendall(b"%d\n" % signum))
    end = read_line(sock, buf)
    if end is None:
        print(f"mer.warm: the warm server ({path}) stopped while running {' '.join(args)} "
              f"(child {reply['pid']})", file=sys.stderr)
        return 1
    if "signal" in end:
        signal.signal(end["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), end["signal"])
    return end["exit"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
