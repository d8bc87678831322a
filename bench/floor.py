#!/usr/bin/env python3
"""The floor under one sequential write: a bare skeleton of the cluster's message pattern.

    python bench/floor.py [--writes 2000] [--nodes 5] [--cpu-affinity auto|off] [--no-fsync]
                          [--writer-thread]

Why: issue 14 asks how far a sequential write's CPU (all nodes together) and latency can fall.
This runs the same hops as a zmqzab write through a follower, with nothing else: the client ->
follower F0 (DEALER -> ROUTER), F0 -> leader (FORWARD, DEALER -> ROUTER), the leader appends 100
bytes and fsyncs, PROPOSAL to every follower (PUB/SUB), each appends and fsyncs and ACKs (DEALER
-> ROUTER), the leader, with a quorum, sends COMMIT (PUB/SUB), F0 answers the client. Each
process is one Python thread over pyzmq (its fsync on that thread: no hand-off to a writer),
pinned like `[processes] cpu_affinity = "auto"` (process i on CPU i mod CPUs). No decoding, no
state, no log format, no events: what it costs is what ZeroMQ, the kernel's TCP and fsync, and
the interpreter's calls into them cost on this machine. ``--writer-thread`` moves each
process's append + fsync to a second thread that reports back through a pipe, as zmqzab's log
writer does (ARCHITECTURE: the fsync stays off the socket thread), to price that hand-off.
Linux only (/proc, sched_setaffinity).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time

import zmq

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (ZeroMQ's I/O thread included)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def _pin(i: int, affinity: str) -> None:
    if affinity == "auto":
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[i % len(cpus)]})


def _log(directory: str, i: int, fsync: bool):
    fd = os.open(os.path.join(directory, f"log-{i}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(record: bytes) -> None:
        os.write(fd, record)
        if fsync:
            os.fsync(fd)
    return append


def _writer(append):
    """A log writer thread: takes zxids, appends + fsyncs a record for each, reports them on a pipe."""
    cond, todo = threading.Condition(), []
    r, w = os.pipe()

    def run() -> None:
        while True:
            with cond:
                while not todo:
                    cond.wait()
                batch = todo[:]
                todo.clear()
            for _ in batch:
                append(b"x" * 100)
            os.write(w, b"".join(z + b";" for z in batch))

    threading.Thread(target=run, daemon=True).start()

    def submit(zxid: bytes) -> None:
        with cond:
            todo.append(zxid)
            cond.notify()
    return submit, r


def _appender(sock: zmq.Socket, i: int, args):
    """This process's append (inline, or handed to a writer thread with ``--writer-thread``), the
    writer's report pipe (None inline), and a poller over ``sock`` and that pipe."""
    append, done_fd = _log(args.dir, i, not args.no_fsync), None
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    if args.writer_thread:
        append, done_fd = _writer(append)
        poller.register(done_fd, zmq.POLLIN)
    return append, done_fd, poller


def _durable(done_fd: int) -> list[bytes]:
    """The zxids the writer thread reported durable since the last look."""
    return os.read(done_fd, 4096).split(b";")[:-1]


def leader(i: int, n: int, ports: mp.Queue, args) -> None:
    _pin(i, args.cpu_affinity)
    ctx = zmq.Context()
    router, pub = ctx.socket(zmq.ROUTER), ctx.socket(zmq.PUB)
    ports.put((router.bind_to_random_port("tcp://127.0.0.1"), pub.bind_to_random_port("tcp://127.0.0.1")))
    append, done_fd, poller = _appender(router, i, args)
    quorum = n // 2 + 1
    acks: dict[int, int] = {}
    seq = 0

    def ack(z: int) -> None:
        if z in acks:
            acks[z] += 1
            if acks[z] == quorum:
                del acks[z]
                pub.send(b"C%d" % z)

    while True:
        ready = dict(poller.poll())
        if args.writer_thread and done_fd in ready:
            for z in _durable(done_fd):
                ack(int(z))  # its own ACK, once its fsync is done
        if router not in ready:
            continue
        frames = router.recv_multipart()
        kind, body = frames[1][:1], frames[1][1:]
        if kind == b"F":  # FORWARD: propose
            seq += 1
            acks[seq] = 0
            pub.send(b"P%d" % seq)
            if args.writer_thread:  # its own fsync after the PROPOSAL went out, as zmqzab does
                append(b"%d" % seq)
            else:
                append(b"x" * 100)
                ack(seq)
        elif kind == b"A":
            ack(int(body))
        elif kind == b"S":
            break


def follower(i: int, n: int, lead: tuple[int, int], ports: mp.Queue | None, args) -> None:
    _pin(i, args.cpu_affinity)
    ctx = zmq.Context()
    dealer, sub = ctx.socket(zmq.DEALER), ctx.socket(zmq.SUB)
    dealer.connect(f"tcp://127.0.0.1:{lead[0]}")
    sub.connect(f"tcp://127.0.0.1:{lead[1]}")
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    append, done_fd, poller = _appender(sub, i, args)
    client = None
    if ports is not None:  # F0 serves the client
        client = ctx.socket(zmq.ROUTER)
        ports.put(client.bind_to_random_port("tcp://127.0.0.1"))
        poller.register(client, zmq.POLLIN)
    waiting: bytes | None = None
    while True:
        ready = dict(poller.poll())
        if client in ready:
            who, msg = client.recv_multipart()
            if msg == b"S":
                dealer.send(b"S")  # tell the leader to stop
                break
            waiting = who
            dealer.send(b"F" + msg)
        if args.writer_thread and done_fd in ready:
            for z in _durable(done_fd):
                dealer.send(b"A" + z)
        if sub in ready:
            msg = sub.recv()
            if msg[:1] == b"P":
                if args.writer_thread:
                    append(msg[1:])  # the ACK goes when the writer reports it durable
                else:
                    append(b"x" * 100)
                    dealer.send(b"A" + msg[1:])
            elif msg[:1] == b"C" and waiting is not None:
                client.send_multipart([waiting, msg])
                waiting = None
            elif msg == b"X":
                break


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--cpu-affinity", choices=("auto", "off"), default="auto")
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--writer-thread", action="store_true", help="each process fsyncs on a second thread")
    a = ap.parse_args()
    a.dir = tempfile.mkdtemp(prefix="zmqzab-floor-")
    n = a.nodes
    q: mp.Queue = mp.Queue()
    ld = mp.Process(target=leader, args=(n - 1, n, q, a))
    ld.start()
    lead = q.get()
    f0 = mp.Process(target=follower, args=(0, n, lead, q, a))
    f0.start()
    client_port = q.get()
    others = [mp.Process(target=follower, args=(i, n, lead, None, a)) for i in range(1, n - 1)]
    for p in others:
        p.start()
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.connect(f"tcp://127.0.0.1:{client_port}")
    done = 0
    while done < 200:  # warm-up; a PROPOSAL sent before every SUB joined is lost: send again
        s.send(b"w")
        if s.poll(200):
            s.recv()
            done += 1
    while s.poll(50):  # a late answer to a resent warm-up write
        s.recv()
    procs = [ld, f0, *others]
    before = [cpu_s(p.pid) for p in procs]
    client0 = time.process_time()
    lat = []
    for _ in range(a.writes):
        t = time.perf_counter()
        s.send(b"w")
        s.recv()
        lat.append(time.perf_counter() - t)
    client = time.process_time() - client0
    after = [cpu_s(p.pid) for p in procs]
    s.send(b"S")
    ld.join(5)
    for p in [f0, *others]:
        p.kill()
    lat.sort()
    per = [(b - a_) / a.writes * 1e6 for a_, b in zip(before, after)]
    print(f"skeleton, {n} processes, fsync {'off' if a.no_fsync else 'on'}"
          f"{' (on a writer thread)' if a.writer_thread else ''}, cpu_affinity {a.cpu_affinity}: "
          f"p50 {lat[len(lat) // 2] * 1000:.2f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms")
    print(f"  CPU per write: leader {per[0]:.0f} us, the client's follower {per[1]:.0f} us, "
          f"others {', '.join(f'{x:.0f}' for x in per[2:])} us; all {sum(per):.0f} us; "
          f"the client {client / a.writes * 1e6:.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
