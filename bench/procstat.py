"""What the kernel says a process tree costs: CPU time, context switches
and resident memory, read from /proc (make bench).

A daemon is measured with its children: vaultd's keeper is a child of the
worker, PostgreSQL's backends are children of the postmaster. CPU time of
children that exited and were reaped is in the parent's cutime/cstime, so a
measurement before and after a run counts backends that came and went."""
import glob
import os

HZ = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (field 3 first)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def children(pid):
    """The pids of pid's children (every thread's), or [] when it is gone."""
    kids = []
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


def family(pid):
    """pid and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def cpu_seconds(pid):
    """User + system CPU of pid's tree so far, with its reaped children's."""
    total = 0
    for i, p in enumerate(family(pid)):
        try:
            f = _stat_fields(p)
        except OSError:
            continue  # exited meanwhile: its time moves to the parent's cutime
        total += int(f[11]) + int(f[12])  # utime, stime
        if i == 0:
            total += int(f[13]) + int(f[14])  # cutime, cstime
    return total / HZ


def context_switches(pid):
    """Voluntary + involuntary context switches of every live thread of
    pid's tree (threads that ended are not counted)."""
    total = 0
    for p in family(pid):
        for path in glob.glob("/proc/%d/task/*/status" % p):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def memory(pid, exclude_path=None):
    """Resident memory of pid alone, in bytes: rss, anon, file, peak (VmHWM),
    and rss_excluding (rss less the pages mapped from exclude_path, the
    store's memory map)."""
    out = {}
    names = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file", "VmHWM:": "peak"}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":")[0] + ":"
            if k in names:
                out[names[k]] = int(line.split()[1]) * 1024
    mapped = 0
    if exclude_path:
        current = None
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                parts = line.split()
                if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                    current = parts[5] if len(parts) > 5 else ""
                elif parts[0] == "Rss:" and current == exclude_path:
                    mapped += int(parts[1]) * 1024
    out["rss_excluding"] = out.get("rss", 0) - mapped
    return out


def reset_peak(pid):
    """Resets VmHWM (the kernel's peak RSS) of pid's tree, where allowed."""
    for p in family(pid):
        try:
            with open("/proc/%d/clear_refs" % p, "w") as f:
                f.write("5")
        except OSError:
            pass
