"""A throwaway vaultd for make bench: created in a directory of its own,
started as it runs in production (sandbox on, full durability; as root it
drops to nobody), its readiness taken from sd_notify's READY=1 the way
systemd takes it, and stopped with SIGTERM."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import procstat

READY_TIMEOUT = 600  # seconds; a big store must not look like a hang


class VaultError(Exception):
    pass


class Client:
    """One varlink connection (docs/protocol.md), blocking."""

    def __init__(self, path, timeout=600):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def call(self, method, params=None):
        self.sock.sendall(json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0")
        while b"\0" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise VaultError("vaultd closed the connection during %s" % method)
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def close(self):
        self.sock.close()


class Vault:
    """vaultd in dirpath (created 0755: as root vaultd runs as nobody, who
    reads the policy there). flags are extra daemon options."""

    def __init__(self, build, dirpath, policy, flags=()):
        self.vaultd = os.path.join(build, "vaultd")
        self.dir = dirpath
        os.makedirs(dirpath, mode=0o755, exist_ok=True)
        os.chmod(dirpath, 0o755)
        self.state = os.path.join(dirpath, "state")
        self.key = os.path.join(dirpath, "root.key")
        self.sock = os.path.join(dirpath, "vaultd.sock")
        self.policy = os.path.join(dirpath, "policy")
        self.log = os.path.join(dirpath, "vaultd.log")
        self.store = os.path.join(self.state, "data.mdb")
        self.user = ["--user", "nobody"] if os.geteuid() == 0 else []
        self.flags = list(flags)
        self.proc = None
        with open(self.policy, "w") as f:
            f.write(policy)
        for cmd in (["--generate-key", self.key], ["--init", "--state-dir", self.state, "--key-file", self.key]):
            r = subprocess.run([self.vaultd] + cmd + self.user, capture_output=True, text=True)
            if r.returncode != 0:
                raise VaultError("vaultd %s failed: %s" % (cmd[0], r.stderr.strip()))

    def start(self):
        """Starts vaultd; returns the seconds from exec to READY=1."""
        notify = os.path.join(self.dir, "notify.sock")
        if os.path.exists(notify):
            os.unlink(notify)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify)
        os.chmod(notify, 0o666)  # vaultd sends as nobody
        ns.settimeout(0.2)
        env = dict(os.environ, NOTIFY_SOCKET=notify)
        env.pop("WATCHDOG_USEC", None)
        log = open(self.log, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([self.vaultd, "--state-dir", self.state, "--key-file", self.key, "--policy",
                                      self.policy, "--socket", self.sock] + self.user + self.flags,
                                     env=env, stdout=log, stderr=log)
        log.close()
        while True:
            try:
                msg = ns.recv(4096).decode(errors="replace")
            except socket.timeout:
                msg = ""
            if "READY=1" in msg.split("\n"):
                ready = time.monotonic() - t0
                break
            if self.proc.poll() is not None:
                raise VaultError("vaultd exited with %d before READY; see %s" % (self.proc.returncode, self.log))
            if time.monotonic() - t0 > READY_TIMEOUT:
                raise VaultError("vaultd not READY after %d s" % READY_TIMEOUT)
        # Keep reading notifications so that vaultd never waits on a full socket.
        threading.Thread(target=self._drain, args=(ns,), daemon=True).start()
        return ready

    @staticmethod
    def _drain(ns):
        ns.settimeout(None)
        try:
            while ns.recv(4096):
                pass
        except OSError:
            pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise VaultError("vaultd did not stop within 120 s of SIGTERM")
        if self.proc and self.proc.returncode not in (0, None):
            raise VaultError("vaultd exited with %d; see %s" % (self.proc.returncode, self.log))

    @property
    def pid(self):
        return self.proc.pid

    def call(self, method, params=None):
        c = Client(self.sock)
        try:
            return c.call(method, params)
        finally:
            c.close()

    def call_ok(self, method, params=None):
        r = self.call(method, params)
        if "error" in r:
            raise VaultError("%s: %s" % (method, json.dumps(r)))
        return r["parameters"]

    def status(self):
        return self.call_ok("io.vaultd.admin.Status")

    def memory(self):
        """The worker's and the keeper's resident memory (procstat.memory)."""
        out = {}
        for name, pid in zip(("worker", "keeper"), procstat.family(self.pid)):
            out[name] = procstat.memory(pid, exclude_path=self.store)
        return out
