"""The node loop's poller: one epoll over ZeroMQ's notification fds and plain fds (issue 14).

Why not ``zmq.Poller``: ``zmq_poll`` asks every registered socket for ``ZMQ_EVENTS`` before and
after it sleeps, and each ask is a ``poll`` syscall on that socket's mailbox. A node polls about
twelve sockets (peer ROUTER, one SUB per peer, client ROUTER, wake pipe, one monitor per peer),
so every loop pass cost ~25 syscalls (strace: 56 ``poll`` per sequential write on a follower)
whatever arrived. Here the loop sleeps in one ``epoll_wait`` and asks ``ZMQ_EVENTS`` only of
the sockets whose fd fired.

ZeroMQ's fd (``ZMQ_FD``) says "look at ZMQ_EVENTS", not "readable": it fires when the socket's
mailbox gets a command, and reading ``ZMQ_EVENTS`` (or recv/send on the socket) consumes it.
So the rules the loop keeps:

* a socket whose fd fired must be asked (its handler drains it with ``drain``, which asks
  ``ZMQ_EVENTS`` until it says no more); level-triggered epoll reports it again otherwise;
* a socket can hold readable messages while its fd is quiet: when the handler stopped before
  the end (``DRAIN_LIMIT``: ``Transport.unfinished``), read one message only (a monitor), or
  when the loop *sent* on it (a send processes the mailbox too, e.g. the client ROUTER's
  replies). ``settle`` asks such sockets once at the end of a pass; those still readable are
  handed out again by the next ``wait`` without sleeping. A socket drained to the end needs
  no asking: ``drain``'s last ``ZMQ_EVENTS`` said "nothing", and the next message fires.
"""

from __future__ import annotations

import select
from typing import Any

import zmq

_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)


class Poller:
    __slots__ = ("_epoll", "_key_of", "_fd_of", "_zmq", "_again")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._key_of: dict[int, Any] = {}  # fd -> what was registered (a zmq socket or an fd)
        self._fd_of: dict[Any, int] = {}
        self._zmq: set[Any] = set()
        self._again: list[Any] = []  # zmq sockets known readable: handed out without sleeping

    def register(self, what: Any) -> None:
        """A zmq socket (its ZMQ_FD) or a plain file descriptor, for reading."""
        if isinstance(what, zmq.Socket):
            fd = what.getsockopt(zmq.FD)
            self._zmq.add(what)
        else:
            fd = what
        self._key_of[fd] = what
        self._fd_of[what] = fd
        self._epoll.register(fd, select.EPOLLIN)
        if what in self._zmq:
            self._again.append(what)  # messages may be waiting already: the fd fired before

    def unregister(self, what: Any) -> None:
        fd = self._fd_of.pop(what)
        del self._key_of[fd]
        self._zmq.discard(what)
        self._epoll.unregister(fd)
        if what in self._again:
            self._again.remove(what)

    def wait(self, timeout_ms: int) -> list[Any]:
        """What may be readable: sockets settle() found readable at once, else what fired
        within ``timeout_ms`` (each at most once)."""
        ready = self._again
        self._again = []
        if ready:
            timeout_ms = 0  # look for anything else that fired, without sleeping
        key_of = self._key_of
        for fd, _ in self._epoll.poll(timeout_ms / 1000.0 if timeout_ms > 0 else 0):
            what = key_of.get(fd)
            if what is not None and what not in ready:
                ready.append(what)
        return ready

    def settle(self, sockets) -> None:
        """Ask ``sockets`` (handled or sent on in this pass) whether messages wait on them; those
        that say yes come out of the next ``wait`` without it sleeping (their fd will not fire)."""
        again = self._again
        for sock in sockets:
            if sock in self._zmq and sock not in again and sock.getsockopt(_EVENTS) & _POLLIN:
                again.append(sock)

    def close(self) -> None:
        self._epoll.close()
