"""systemd integration without systemd as PID 1: socket activation through
systemd-socket-activate, the key as a credential, notify messages, and
logs that never carry a secret."""
import os
import shutil
import signal
import socket
import subprocess
import time

from conftest import VAULTD, Client, Vault


def wait_for_socket(path, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "daemon exited"
        try:
            c = Client(path, timeout=5)
            c.call("org.varlink.service.GetInfo")
            return c
        except (OSError, ConnectionError):
            time.sleep(0.05)
    raise AssertionError("no answer on " + path)


def test_socket_activation_and_credential(vault_dir):
    v = Vault(vault_dir)
    creds = os.path.join(vault_dir, "creds")
    os.mkdir(creds, 0o700)
    shutil.copy(v.key, os.path.join(creds, "vaultd.key"))
    os.chmod(os.path.join(creds, "vaultd.key"), 0o400)
    activated = os.path.join(vault_dir, "activated.sock")
    # No --key-file and a --socket that is never bound: both come from "systemd".
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
    # systemd-socket-activate passes on only the variables named with -E.
    passed = ["-E", "CREDENTIALS_DIRECTORY"] + (["-E", "ASAN_OPTIONS"] if "ASAN_OPTIONS" in env else [])
    p = subprocess.Popen(["systemd-socket-activate"] + passed + ["-l", activated, VAULTD, "--state-dir", v.state,
                          "--policy", v.policy, "--socket", os.path.join(vault_dir, "unused.sock"),
                          "--user", "nobody"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        c = wait_for_socket(activated, p)
        r = c.call("io.vaultd.records.Put", {"collection": "c", "id": "S-1", "data": "aGk="})
        assert r["parameters"]["version"] == 1
        assert not os.path.exists(os.path.join(vault_dir, "unused.sock"))
    finally:
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=20)[0].decode()
    assert p.returncode == 0, out


def test_notify_messages(vault_dir):
    v = Vault(vault_dir)
    notify = os.path.join(vault_dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    os.chmod(notify, 0o666)  # vaultd sends as nobody
    ns.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=notify, WATCHDOG_USEC="400000")
    p = subprocess.Popen([VAULTD, "--state-dir", v.state, "--key-file", v.key, "--policy", v.policy,
                          "--socket", v.sock, "--user", "nobody"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    messages = []
    try:
        wait_for_socket(v.sock, p)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                any(m.startswith("STATUS=serving:") for m in messages) and messages.count("WATCHDOG=1") >= 2):
            messages += ns.recv(4096).decode().split("\n")
        p.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages += ns.recv(4096).decode().split("\n")
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=20)
    assert "READY=1" in messages
    assert any(m.startswith("STATUS=serving:") and "records" in m for m in messages)
    assert "STOPPING=1" in messages
    assert messages.count("WATCHDOG=1") >= 2  # the event loop pings the watchdog


def test_logs_carry_no_secrets(vault_dir):
    v = Vault(vault_dir, policy="allow user root role admin,auditor\n")
    v.start()
    secret = b"CCCD 001190012345 So tai khoan 0123456789"
    v.ctl("put", "c", "L-1", "-", input=secret)           # denied: root is no service here
    v.write_policy("allow user root role admin,auditor\nallow user root role service collections *\n")
    v.ctl("policy", "reload", check=True)
    v.ctl("put", "c", "L-1", "-", input=secret, check=True)
    v.ctl("get", "c", "L-1", check=True)
    v.ctl("put", "bad name", "L-1", "-", input=secret)
    assert v.stop() == 0
    log = open(v.log, "rb").read()
    key = open(v.key, "rb").read().split(b"\n")[1]
    assert b"denied" in log  # the denial is logged...
    for needle in (secret, b"001190012345", b"0123456789", key):
        assert needle not in log  # ...but never a body or a key


def test_watchdog_starves_while_the_writer_is_stuck(vault_dir):
    """The loop feeds the watchdog only while the writer makes progress:
    here another process holds LMDB's write lock, so the writer blocks."""
    v = Vault(vault_dir)
    notify = os.path.join(vault_dir, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    os.chmod(notify, 0o666)
    env = dict(os.environ, NOTIFY_SOCKET=notify, WATCHDOG_USEC="400000")
    p = subprocess.Popen([VAULTD, "--state-dir", v.state, "--key-file", v.key, "--policy", v.policy,
                          "--socket", v.sock, "--user", "nobody"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def pings(seconds):
        n, deadline = 0, time.monotonic() + seconds
        ns.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                n += ns.recv(4096).decode().split("\n").count("WATCHDOG=1")
            except socket.timeout:
                pass
        return n

    holder = None
    try:
        wait_for_socket(v.sock, p)
        assert pings(1) >= 2
        # mdb_load takes the write lock after the header and keeps it while
        # it waits for data on its standard input.
        holder = subprocess.Popen(["mdb_load", "-s", "meta", v.state], stdin=subprocess.PIPE)
        holder.stdin.write(b"VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n")
        holder.stdin.flush()
        time.sleep(0.3)
        c = Client(v.sock, timeout=30)
        c.send("io.vaultd.records.Put", {"collection": "c", "id": "W-1", "data": ""})
        pings(0.5)  # the writer blocks; pings already due may still arrive
        assert pings(1.5) == 0, "watchdog fed while the writer was stuck"
        holder.stdin.write(b"DATA=END\n")
        holder.stdin.close()
        holder.wait(timeout=10)
        assert c.recv()["parameters"]["version"] == 1  # nothing lost
        assert pings(1) >= 2  # progress again: fed again
    finally:
        if holder and holder.poll() is None:
            holder.kill()
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=20)[1].decode()
    assert "not feeding the watchdog" in err
