"""CPU time and memory of a server's processes, read from /proc.

A server is measured as the tree of processes under one root PID (heraldd alone; Postfix's
master and every daemon it spawned). CPU time is cumulative and monotonic: a process that
exits is reaped by its parent, and the kernel then adds its time to the parent's cutime and
cstime, so "own time of every live process + reaped children's time of every live process"
never loses a daemon that came and went between two readings.
"""

import os
import threading

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None if the process is gone."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    return text[text.rindex(")") + 2:].split()


def process_tree(root_pid):
    """root_pid and all its live descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root_pid):
    """User + system CPU seconds used so far by the tree, reaped children included."""
    ticks = 0
    for pid in process_tree(root_pid):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # stat(5): utime, stime, cutime, cstime are fields 14-17; fields[] starts at field 3.
        ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLOCK_TICKS


def _status_kib(pid, key):
    text = _read(f"/proc/{pid}/status")
    if text is None:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _pss_kib(pid):
    text = _read(f"/proc/{pid}/smaps_rollup")
    if text is None:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def rss_kib(pid):
    """VmRSS: the process's resident set now."""
    return _status_kib(pid, "VmRSS")


def tree_pss_kib(root_pid):
    """The summed PSS of root_pid and its descendants now (see MemorySampler)."""
    return sum(_pss_kib(pid) for pid in process_tree(root_pid))


def peak_rss_kib(pid):
    """VmHWM: the largest resident set the process has had since it started."""
    return _status_kib(pid, "VmHWM")


class MemorySampler:
    """Samples the tree's summed RSS and PSS in a background thread and keeps the peaks.

    PSS charges each shared page (libraries, Postfix's shared text) once across the tree,
    so its sum is the memory the server really occupies; the summed RSS counts shared
    pages once per process and overstates a many-process server.
    """

    def __init__(self, root_pid, interval=0.5):
        self.root_pid = root_pid
        self.interval = interval
        self.peak_rss_kib = 0
        self.peak_pss_kib = 0
        self.peak_single_hwm_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self):
        rss = pss = 0
        for pid in process_tree(self.root_pid):
            rss += _status_kib(pid, "VmRSS")
            pss += _pss_kib(pid)
            self.peak_single_hwm_kib = max(self.peak_single_hwm_kib, peak_rss_kib(pid))
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
