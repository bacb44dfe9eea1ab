#!/usr/bin/python3
"""The test runner behind `make check`: unit tests (cmocka binaries), then
the integration suite (pytest, real daemon). Ends with one line
'N passed, N failed' counting every test of both."""
import argparse
import glob
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(build):
    passed = failed = 0
    binaries = sorted(glob.glob(os.path.join(build, "tests", "test-*")))
    if not binaries:
        print("no unit test binaries in %s/tests" % build)
        return 0, 1
    for binary in binaries:
        r = subprocess.run([binary], cwd=REPO, capture_output=True, text=True)
        out = r.stdout + r.stderr
        sys.stdout.write(out)
        ran = re.search(r"\[==========\] (\d+) test\(s\) run", out)
        ok = re.search(r"\[  PASSED  \] (\d+) test\(s\)", out)
        bad = re.search(r"\[  FAILED  \] (\d+) test\(s\)", out)
        n_ok = int(ok.group(1)) if ok else 0
        n_bad = int(bad.group(1)) if bad else 0
        if r.returncode != 0 and n_bad == 0:
            n_bad = max(1, (int(ran.group(1)) if ran else 1) - n_ok)
        passed += n_ok
        failed += n_bad
    return passed, failed


def run_replays(build):
    """Each fuzz target over its seed corpus (sanitizers on): one test each."""
    passed = failed = 0
    for target in ("varlink", "policy", "audit", "jsonscan"):
        binary = os.path.join(build, "fuzz", "replay-" + target)
        corpus = os.path.join(REPO, "tests", "fuzz", "corpus", target)
        r = subprocess.run([binary, corpus], capture_output=True, text=True)
        ok = r.returncode == 0
        print("%s fuzz corpus %s: %s" % ("[  PASSED  ]" if ok else "[  FAILED  ]", target,
                                         (r.stdout + r.stderr).strip()[-500:]))
        passed += ok
        failed += not ok
    return passed, failed


def run_pytest(build, extra):
    env = dict(os.environ, VAULTD_BUILD=os.path.abspath(build))
    if "ASAN_OPTIONS" in env:
        # Processes of the integration suite run without LeakSanitizer: its
        # exit-time scan needs ptrace, which vaultd's seccomp filter kills,
        # and vaultctl exits on purpose without freeing after an error. The
        # unit tests and fuzz replays keep leak checking.
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    cmd = ["/usr/bin/python3", "-m", "pytest", "-p", "no:cacheprovider", "-q",
           "-o", "console_output_style=classic", os.path.join(REPO, "tests", "integration")] + extra
    p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    last = ""
    for line in p.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line
    p.wait()
    passed = int((re.search(r"(\d+) passed", last) or [0, 0])[1])
    failed = int((re.search(r"(\d+) failed", last) or [0, 0])[1])
    failed += int((re.search(r"(\d+) error", last) or [0, 0])[1])
    if p.returncode not in (0, 1) and failed == 0:
        failed = 1  # pytest itself failed (collection error, no tests, ...)
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    if os.geteuid() != 0:
        # Role tests switch uids, sandbox tests check the drop from root,
        # the full-disk test mounts a tmpfs.
        print("tests/run.py: run as root (make check installs packages as root too)")
        return 1
    print("== unit tests (cmocka)", flush=True)
    up, uf = run_unit(args.build)
    rp, rf = run_replays(args.build)
    up, uf = up + rp, uf + rf
    ip = if_ = 0
    if not args.unit_only:
        print("== integration tests (pytest, real vaultd)", flush=True)
        ip, if_ = run_pytest(args.build, args.pytest_args)
    print("unit: %d passed, %d failed; integration: %d passed, %d failed" % (up, uf, ip, if_))
    print("%d passed, %d failed" % (up + ip, uf + if_))
    return 1 if uf + if_ else 0


if __name__ == "__main__":
    sys.exit(main())
