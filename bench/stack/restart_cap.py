"""supervisord event listener: stop a program that keeps dying, after a bounded number of restarts.

supervisord gives up only on a program that dies within ``startsecs`` of each
start (FATAL). One that runs a little longer and then crashes, again and
again, it restarts forever. This listener (``[eventlistener:restart-cap]``,
bench/stack/supervisor_conf.py) counts each program's exits that nobody asked
for (PROCESS_STATE_EXITED: a stop requested by `bench down` or supervisorctl
ends in STOPPED instead) and stops a program once it exited ``--max`` times
within ``--window`` seconds, logging a "gave up:" line that `bench status`
reads (bench/stack/restarts.py).

Run by supervisord as ``python -m bench.stack.restart_cap --max N --window S``;
stdout is supervisord's event protocol, so everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import xmlrpc.client
from collections import defaultdict, deque

from supervisor import childutils

EVENT = "PROCESS_STATE_EXITED"


def gave_up_line(name: str, exits: int, window_s: float) -> str:
    """The line bench/stack/restarts.py recognises (same timestamp format as supervisord's)."""
    return (
        f"{childutils.get_asctime()} CAP gave up: {name} exited {exits} times "
        f"within {window_s:.0f} s; stopped it"
    )


class RestartCap:
    def __init__(self, max_exits: int, window_s: float) -> None:
        self.max_exits = max_exits
        self.window_s = window_s
        self._exits: defaultdict[str, deque[float]] = defaultdict(deque)

    def exited(self, name: str, now: float) -> bool:
        """Note an exit of ``name``; True once it is one too many for the window."""
        exits = self._exits[name]
        exits.append(now)
        while exits and exits[0] < now - self.window_s:
            exits.popleft()
        return len(exits) >= self.max_exits

    def forget(self, name: str) -> None:
        self._exits.pop(name, None)


def _stop(group: str, name: str) -> None:
    rpc = childutils.getRPCInterface(os.environ)
    try:
        rpc.supervisor.stopProcess(f"{group}:{name}", False)
    except xmlrpc.client.Fault as fault:
        # Already stopped or stopping (a `bench down` under way): nothing to do.
        print(f"restart-cap: could not stop {name}: {fault.faultString}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="restart-cap")
    parser.add_argument("--max", type=int, required=True, dest="max_exits")
    parser.add_argument("--window", type=float, required=True, dest="window_s")
    args = parser.parse_args(argv)
    cap = RestartCap(args.max_exits, args.window_s)
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers["eventname"] == EVENT:
            fields = childutils.get_headers(payload)
            name, group = fields["processname"], fields["groupname"]
            if cap.exited(name, time.monotonic()):
                print(gave_up_line(name, cap.max_exits, cap.window_s), file=sys.stderr, flush=True)
                cap.forget(name)  # started again by hand, it gets a fresh count
                _stop(group, name)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
