"""Node <id>'s real Transport alone in a process, for test_rejoin_processes: it prints "ready",
then "<sender> <round>" for every NOTIFICATION its peer ROUTER reads, until killed. The test
stops and resumes this process as a node is stopped and resumed, without the rest of a node
(its elections would change what the peers send).

    python -m tests.processes.router_probe CONFIG NODE_ID
"""

from __future__ import annotations

import sys
from pathlib import Path

import zmq

from zmqzab.config import load_config
from zmqzab.messages import Notification
from zmqzab.server.transport import Transport


def main() -> None:
    config, node = load_config(Path(sys.argv[1])), int(sys.argv[2])
    t = Transport(zmq.Context(), config, node)
    print("ready", flush=True)
    while True:
        if t.router.poll(100):
            for sender, msg in t.recv_router(2000):
                if type(msg) is Notification:
                    print(sender, msg.round, flush=True)


if __name__ == "__main__":
    main()
