"""The node loop's epoll poller over ZeroMQ's notification fds (server/poller.py).

ZMQ_FD announces a change, not a message: a socket read only partly, or sent on, holds input
its fd will not announce again. These tests pin the rules the node loop keeps.
"""

from __future__ import annotations

import os

import pytest
import zmq

from zmqzab.server.poller import Poller
from zmqzab.server.transport import drain

WAIT_MS = 10_000  # a bound for a stuck test, never a pause


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def pair(ctx, n: int = 0):
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    pull.bind(f"inproc://poller-{id(push)}")
    push.connect(f"inproc://poller-{id(push)}")
    for i in range(n):
        push.send(b"m%d" % i)
    return push, pull


def test_a_socket_read_to_its_limit_is_handed_out_again_after_settle(ctx):
    """Goal: messages left behind by a drain that stopped at its limit are not stranded.
    Setup: 5 messages waiting; each pass reads at most 2. Expected: without settle the fd stays
    quiet (the hazard); with settle, wait(0) hands the socket out until it is empty, then not."""
    push, pull = pair(ctx, 5)
    poller = Poller()
    poller.register(pull)
    assert pull in poller.wait(WAIT_MS)
    assert len(drain(pull, 2)) == 2
    assert poller.wait(0) == []  # 3 still waiting, and nothing announces them
    got = 2
    poller.settle([pull])
    while (ready := poller.wait(0)):
        assert ready == [pull]
        got += len(drain(pull, 2))
        poller.settle([pull])
    assert got == 5
    push.send(b"later")
    assert poller.wait(WAIT_MS) == [pull]  # a new message fires the fd again
    assert drain(pull, 2) == [[b"later"]]
    poller.close()


def test_a_socket_sent_on_is_asked_for_input_its_fd_no_longer_announces(ctx):
    """Goal: a send on a socket we also read (the client ROUTER) cannot hide a request.
    Setup: a DEALER's request waits at a ROUTER that the loop has not read since its fd fired
    and was consumed by a send. Expected: settle after the send hands the ROUTER out."""
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.bind("inproc://poller-router")
    dealer.setsockopt(zmq.ROUTING_ID, b"c")
    dealer.connect("inproc://poller-router")
    poller = Poller()
    poller.register(router)
    dealer.send(b"first")
    assert poller.wait(WAIT_MS) == [router]
    assert drain(router, 10) == [[b"c", b"first"]]
    dealer.send(b"second")
    router.send_multipart([b"c", b"reply"])  # processes the mailbox: the fd stays quiet
    assert poller.wait(0) == []  # the hazard: "second" waits, unannounced
    poller.settle([router])
    ready = poller.wait(WAIT_MS)
    assert ready == [router]
    assert drain(router, 10) == [[b"c", b"second"]]
    poller.close()


def test_plain_fds_and_unregister(ctx):
    """Goal: the wake pipe is polled like a socket; an unregistered socket (the ZooKeeper port
    while throttled) is never handed out. Expected: exactly what is registered and ready."""
    r, w = os.pipe()
    push, pull = pair(ctx, 1)
    poller = Poller()
    poller.register(r)
    poller.register(pull)
    poller.unregister(pull)
    os.write(w, b"x")
    assert poller.wait(WAIT_MS) == [r]
    os.read(r, 10)
    assert poller.wait(0) == []
    poller.register(pull)  # registering again looks at it at once
    assert poller.wait(0) == [pull]
    poller.close()
    os.close(r)
    os.close(w)
