"""Helper processes a benchmark starts: stopping one (a sink, a stub MX: SIGTERM, then SIGKILL
if it has not exited within `timeout` seconds; only that process, by its own handle), and the
open file limit a server or load generator is started with."""

import resource
import signal
import subprocess
import sys


def terminate(process, timeout=10):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def file_limit(open_files):
    """A preexec_fn for subprocess.Popen that sets the child's RLIMIT_NOFILE (soft and hard) to
    `open_files`, or, where the hard limit cannot be raised (that needs CAP_SYS_RESOURCE, which
    root in a container may lack), the soft limit to the hard one; None when `open_files` is
    None. open_file_ceiling() says beforehand which it will be."""
    if open_files is None:
        return None

    def set_limit():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
        except (ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(open_files, hard), hard))

    return set_limit


def open_file_ceiling(wanted):
    """The most open files a child started with file_limit(wanted) gets: `wanted`, or this
    process's hard limit when that cannot be raised. Tried in a child, so this process's own
    limits stay as they are."""
    probe = subprocess.run(
        [sys.executable, "-c", "import resource, sys\n"
         "try:\n resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]),) * 2)\n"
         "except (ValueError, OSError):\n pass\n"
         "print(resource.getrlimit(resource.RLIMIT_NOFILE)[1])", str(wanted)],
        capture_output=True, text=True, check=True)
    return min(wanted, int(probe.stdout))
