"""Hostile clients: each is answered with a named error or cut off, while a
well-behaved client keeps getting correct answers and the daemon's memory
stays bounded."""
import base64
import os
import resource
import socket
import threading
import time

import pytest

from conftest import Client, Vault

RSS_LIMIT_KB = 256 * 1024


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class GoodClient(threading.Thread):
    """Puts and reads back its own record over and over; any wrong answer
    or failure is recorded."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.client = Client(sock, timeout=20)
        self.stop = threading.Event()
        self.errors, self.rounds = [], 0

    def run(self):
        try:
            while not self.stop.is_set():
                body = os.urandom(64)
                r = self.client.call("io.vaultd.records.Put", {"collection": "good", "id": "G-1",
                                                               "data": base64.b64encode(body).decode()})
                g = self.client.call("io.vaultd.records.Get", {"collection": "good", "id": "G-1"})
                if "error" in r or "error" in g or base64.b64decode(g["parameters"]["data"]) != body:
                    self.errors.append((r, g))
                self.rounds += 1
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        self.join(timeout=30)
        assert not self.errors, self.errors[:3]
        assert self.rounds > 0


@pytest.fixture
def hvault(vault_dir):
    v = Vault(vault_dir, extra_args=["--request-timeout", "2", "--write-timeout", "2",
                                     "--max-body", "1048576"])
    v.start()
    good = GoodClient(v.sock)
    good.start()
    yield v
    good.finish()
    assert rss_kb(v.proc.pid) < RSS_LIMIT_KB
    assert v.stop() == 0


def raw(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    return s


def read_reply_or_close(s):
    buf = b""
    try:
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    return buf.split(b"\0")[0]


def test_oversized_message(hvault):
    s = raw(hvault.sock)
    try:
        s.sendall(b'{"method":"io.vaultd.records.Put","parameters":{"data":"' + b"A" * (3 << 20))
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = read_reply_or_close(s)
    assert reply is None or b"InvalidParameter" in reply


def test_never_terminated_message(hvault):
    s = raw(hvault.sock)
    s.sendall(b'{"method":"io.vaultd.admin.Status"')
    s.settimeout(6)
    assert read_reply_or_close(s) is None  # cut off after --request-timeout


def test_trickling_sender(hvault):
    s = raw(hvault.sock)
    deadline = time.monotonic() + 6
    closed = False
    while time.monotonic() < deadline:
        try:
            s.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.2)
    assert closed  # a message must be finished in time, however slowly it trickles


@pytest.mark.parametrize("payload,error", [
    (b"{not json", "org.varlink.service.InvalidParameter"),
    (b'{"method":"io.vaultd.admin.Status","x":"\xc3\x28"}', "org.varlink.service.InvalidParameter"),
    (b"[" * 100000 + b"]" * 100000, "org.varlink.service.InvalidParameter"),
    (b'{"method":' + b'{"a":' * 100000 + b"1" + b"}" * 100001, "org.varlink.service.InvalidParameter"),
    (b'{"method":42}', "org.varlink.service.InvalidParameter"),
    (b'{"method":"io.vaultd.records.Get","parameters":"x"}', "org.varlink.service.InvalidParameter"),
    (b'{"method":"io.vaultd.records.Get","parameters":{"collection":["c"],"id":{}}}',
     "io.vaultd.records.InvalidParameter"),
    (b'{"method":"io.vaultd.records.Get","parameters":{"collection":"c","id":"x","version":-1}}',
     "io.vaultd.records.InvalidParameter"),
    (b'{"method":"io.vaultd.records.Put","parameters":{"collection":"c","id":"x","data":"@@@@"}}',
     "io.vaultd.records.InvalidParameter"),
    (b'{"method":"io.vaultd.records.Put","parameters":{"collection":"c","id":"x","data":"YQ"}}',
     "io.vaultd.records.InvalidParameter"),
    (b'{"method":"io.vaultd.records.Frobnicate"}', "org.varlink.service.MethodNotFound"),
    (b'{"method":"com.example.Nope"}', "org.varlink.service.InterfaceNotFound"),
    (b'{"method":"io.vaultd.records.Get","more":"yes"}', "org.varlink.service.InvalidParameter"),
], ids=["not-json", "bad-utf8", "deep-array", "deep-object", "method-not-string", "params-not-object",
        "wrong-types", "negative-version", "base64-garbage", "base64-unpadded", "unknown-method",
        "unknown-interface", "more-not-bool"])
def test_malformed_is_named_error(hvault, payload, error):
    s = raw(hvault.sock)
    s.sendall(payload + b"\0")
    reply = read_reply_or_close(s)
    assert reply is not None and error.encode() in reply, reply
    # The connection stays usable.
    s.sendall(b'{"method":"org.varlink.service.GetInfo"}\0')
    assert b"vaultd" in read_reply_or_close(s)


def test_two_thousand_connections(hvault):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    socks = []
    try:
        for _ in range(2000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(hvault.sock)
            except OSError:
                s.close()
                continue
            socks.append(s)
        answered = closed = 0
        for s in socks:
            try:
                s.sendall(b'{"method":"org.varlink.service.GetInfo"}\0')
                answered += read_reply_or_close(s) is not None
            except OSError:
                closed += 1
        assert 0 < answered <= 256  # the connection limit holds
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_disconnect_mid_reply(hvault):
    c = Client(hvault.sock)
    body = base64.b64encode(os.urandom(900 * 1024)).decode()
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "big", "id": "B-1", "data": body})
    for _ in range(20):
        s = raw(hvault.sock)
        s.sendall(b'{"method":"io.vaultd.records.Get","parameters":{"collection":"big","id":"B-1"}}\0' * 4)
        s.recv(1000)
        s.close()
    assert c.call("io.vaultd.records.Get", {"collection": "big", "id": "B-1"})["parameters"]["data"] == body


def test_client_reading_a_trickle_is_cut_off(hvault):
    """Reading a few bytes now and then is not reading (issue #12): a
    client must read 1 MiB of its waiting replies every --write-timeout
    (2 s here), or it is disconnected and its replies freed."""
    c = Client(hvault.sock)
    body = base64.b64encode(os.urandom(900 * 1024)).decode()
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "big", "id": "B-3", "data": body})
    s = raw(hvault.sock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b'{"method":"io.vaultd.records.Get","parameters":{"collection":"big","id":"B-3"}}\0' * 8)
    got, start = 0, time.monotonic()
    while time.monotonic() - start < 5:  # two windows and more
        got += len(s.recv(20000))
        time.sleep(0.1)  # about 200 KB/s: steady progress, but below 1 MiB per 2 s
    s.settimeout(5)  # now read fast: what is left ends early, for we were dropped
    cut = False
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                cut = True
                break
            got += len(chunk)
    except ConnectionResetError:
        cut = True
    except socket.timeout:
        pass  # still connected, nothing more coming
    assert cut and got < 8 * len(body)
    # Others are served meanwhile and after.
    assert c.call("io.vaultd.records.Get", {"collection": "big", "id": "B-3"})["parameters"]["data"] == body


def test_client_never_reads(hvault):
    c = Client(hvault.sock)
    body = base64.b64encode(os.urandom(900 * 1024)).decode()
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "big", "id": "B-2", "data": body})
    s = raw(hvault.sock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    msg = b'{"method":"io.vaultd.records.Get","parameters":{"collection":"big","id":"B-2"}}\0'
    sent = 0
    s.settimeout(1)
    try:
        for _ in range(500):
            s.sendall(msg)
            sent += 1
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass  # vaultd stopped reading from us: back-pressure
    assert sent < 500
    assert rss_kb(hvault.proc.pid) < RSS_LIMIT_KB
    time.sleep(4)  # past --write-timeout: vaultd cuts us off
    s.settimeout(5)
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except (ConnectionResetError, socket.timeout):
        pass
    assert got < sent * len(body)  # not everything was delivered: we were dropped


def test_large_gets_of_one_tenant_do_not_stall_another(vault):
    """One tenant keeps 32 Gets of a 16 MiB record in flight (issue #12:
    this once made another service's small Get wait 38-51 s). Bodies are
    decrypted at most 16 MiB per batch and within the memory budget, and
    encoded a chunk at a time as the reader reads; the small Gets stay fast
    and the daemon's memory bounded. (make bench measures the p99.)"""
    big = os.urandom(16 << 20)
    c = Client(vault.sock, timeout=60)
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "big", "id": "BIG",
                                                           "data": base64.b64encode(big).decode()})
    assert "error" not in c.call("io.vaultd.records.Put", {"collection": "small", "id": "S", "data": "QUJD"})
    stop, replies, peak = threading.Event(), [], [0]

    def streamer():
        s = raw(vault.sock)
        msg = b'{"method":"io.vaultd.records.Get","parameters":{"collection":"big","id":"BIG"}}\0'
        s.sendall(msg * 32)
        buf, inflight = b"", 32
        while inflight:
            chunk = s.recv(1 << 22)
            assert chunk
            buf += chunk
            while b"\0" in buf:
                one, buf = buf.split(b"\0", 1)
                replies.append(len(one))
                inflight -= 1
                if not stop.is_set():
                    s.sendall(msg)
                    inflight += 1
            peak[0] = max(peak[0], rss_kb(vault.proc.pid))
        s.close()

    t = threading.Thread(target=streamer, daemon=True)
    t.start()
    small = Client(vault.sock, timeout=60)
    times = []
    time.sleep(0.5)
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        r = small.call("io.vaultd.records.Get", {"collection": "small", "id": "S"})
        times.append(time.monotonic() - t0)
        assert r["parameters"]["data"] == "QUJD"
        time.sleep(0.01)
    stop.set()
    t.join(timeout=120)
    assert not t.is_alive()
    times.sort()
    assert len(replies) >= 8 and all(n > 16 << 20 for n in replies)
    # Lenient for a loaded CI machine; bench/ measures the real figure.
    assert times[len(times) // 2] < 0.25 and times[-1] < 2, times[-5:]
    assert peak[0] < 512 * 1024, peak[0]
    got = c.call("io.vaultd.records.Get", {"collection": "big", "id": "BIG"})["parameters"]
    assert base64.b64decode(got["data"]) == big


@pytest.mark.parametrize("behind", ["small", "large"])
def test_a_client_that_reads_nothing_cannot_stop_others_large_gets(vault_dir, behind):
    """A client pipelines a large Get and then many more (small ones, or
    large ones) and reads nothing. Small bodies never count against the
    budget, and a connection holds one large body at a time, so another
    client's large Get is still served (a review found the first form
    stopping every large Get for good)."""
    v = Vault(vault_dir, extra_args=["--memory-budget", str(2 << 20)])
    v.start()
    s = None
    try:
        c = Client(v.sock, timeout=60)
        big = os.urandom(1 << 20)
        assert "error" not in c.call("io.vaultd.records.Put", {"collection": "big", "id": "B",
                                                               "data": base64.b64encode(big).decode()})
        small = base64.b64encode(os.urandom(60 << 10)).decode()
        for i in range(30):
            assert "error" not in c.call("io.vaultd.records.Put", {"collection": "big", "id": "S-%d" % i,
                                                                   "data": small})
        s = raw(v.sock)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        get = '{"method":"io.vaultd.records.Get","parameters":{"collection":"big","id":"%s"}}\0'
        calls = [get % "B"] + [get % ("S-%d" % i if behind == "small" else "B") for i in range(30)]
        s.sendall("".join(calls).encode())
        time.sleep(1)
        other = Client(v.sock, timeout=30)
        t0 = time.monotonic()
        r = other.call("io.vaultd.records.Get", {"collection": "big", "id": "B"})
        assert base64.b64decode(r["parameters"]["data"]) == big
        assert time.monotonic() - t0 < 10
    finally:
        if s:
            s.close()
        v.stop()
