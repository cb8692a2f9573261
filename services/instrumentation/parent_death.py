"""Make a forked worker die with its master, the way a container's processes do.

A gunicorn master killed with SIGKILL cannot stop its workers: they live on as
orphans, keep the listening socket and keep serving, so the master that
supervisord starts in its place cannot bind the port, and `bench down` (which
stops supervisord's process tree) no longer sees them. Linux can send a child a
signal when its parent dies (prctl PR_SET_PDEATHSIG); elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent exits; exit now if it already has."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died between fork() and prctl(): nothing would tell us.
    if os.getppid() != parent_pid:
        os._exit(1)
