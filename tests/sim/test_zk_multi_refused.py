"""A multi refused as a whole (its session moved to another connection: SESSIONMOVED) is
answered as ZooKeeper answers it: the error in the reply header and no MultiResponse.

Found by the sweep `zmqzab sim --seeds 300 --seed 82000 --zk-clients 3` (seed 82060): the
leader committed the multi as an error txn (SESSIONMOVED, no sub-results) and the server replied
err 0 with one ErrorResult per op, while the checker expected err 0 and as many results as the
txn had (none): both disagreed with ZooKeeper, whose FinalRequestProcessor throws
SessionMovedException for a multi and sends only the header. The seed also predates this
session (a8da7ce).
"""

from __future__ import annotations

import pytest

from zmqzab.sim.simulation import run_seed
from zmqzab.tree.errors import Code
from zmqzab.tree.tree import TxnResult
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import Request, decode_reply
from zmqzab.zk.records import CheckVersionRequest, DeleteRequest, MultiOp, MultiRequest, RequestHeader
from zmqzab.zkapi.replies import write_reply

pytestmark = pytest.mark.zk


def test_seed_82060_a_multi_refused_as_a_whole_is_answered_with_its_error():
    """Goal: the write-reply checker and the server agree with ZooKeeper on a refused multi.
    Setup: seed 82060, 5 nodes, 300 ticks, three ZooKeeper clients. Faults: the seed's. Expected:
    every property holds (it failed with "write replies agree with the committed history")."""
    result = run_seed(82060, nodes=5, ticks=300, zk_clients=3)
    assert result.ok, result.violation


def unframed(*args) -> bytes:
    return write_reply(*args)[4:]  # the reply without its length prefix


def test_a_refused_multi_is_one_error_header_and_a_failed_op_is_one_error_result_each():
    """Goal: ZooKeeper's two shapes of a failed multi. Expected: refused as a whole (an error
    txn, no sub-results) -> the error in the header, no body; one op failed (NONODE, the others
    RUNTIMEINCONSISTENCY as ZooKeeper marks them) -> err 0 and one ErrorResult per op."""
    ops = (MultiOp(int(OpCode.check), CheckVersionRequest("/a", 1)), MultiOp(int(OpCode.delete), DeleteRequest("/b", -1)))
    request = Request(RequestHeader(7, int(OpCode.multi)), MultiRequest(ops))
    header, body = decode_reply(unframed(request, 0x300000051, TxnResult(err=int(Code.SESSIONMOVED)),
                                            int(Code.SESSIONMOVED)), int(OpCode.multi))
    assert (header.xid, header.err, body) == (7, int(Code.SESSIONMOVED), None)
    failed = TxnResult(err=int(Code.NONODE), results=(TxnResult(err=int(Code.NONODE)),
                                                      TxnResult(err=int(Code.RUNTIMEINCONSISTENCY))))
    header, body = decode_reply(unframed(request, 0x300000052, failed, int(Code.NONODE)), int(OpCode.multi))
    assert header.err == 0
    assert [(int(x.type), x.response.err) for x in body.results] == [
        (int(OpCode.error), int(Code.NONODE)), (int(OpCode.error), int(Code.RUNTIMEINCONSISTENCY))]
