"""The four-letter words (zmqzab/zk/words.py) against ZooKeeper 3.8's texts, literally: the
formats of RuokCommand, StatCommand with ServerStats.toString, ConsCommand with
ServerCnxn.dumpConnectionInfo, MonitorCommand, EnvCommand, ZooKeeperServer.dumpConf,
WatchCommand with WatchManager.toString, and NopCommand's whitelist refusal."""

from __future__ import annotations

import pytest

from zmqzab.zk.framing import FOUR_LETTER_WORDS, SERVED_FOUR_LETTER_WORDS
from zmqzab.zk.words import (ConnectionStatus, ServerStatus, answer, java_double, java_hex)

pytestmark = [pytest.mark.unit, pytest.mark.zk]

CONN = ConnectionStatus(remote="127.0.0.1:50122", queued=0, received=5, sent=4,
                        session_id=0x100000a2b3c0000, last_op="GETD", established_ms=1733370000123,
                        timeout_ms=30000, last_cxid=3, last_zxid=0x100000002,
                        last_response_ms=1733370001000, last_latency_ms=1, min_latency_ms=0,
                        avg_latency_ms=1, max_latency_ms=2)
NEW_CONN = ConnectionStatus(remote="127.0.0.1:50124", queued=1, received=1, sent=0,
                            interest_ops=0)

FOLLOWER = ServerStatus(
    version="3.8.4-zmqzab-0.1", mode="follower", latency_min_ms=0, latency_avg_ms=0.5,
    latency_max_ms=3, packets_received=12, packets_sent=11, connections=(CONN, NEW_CONN),
    outstanding=1, zxid=0x100000002, node_count=5, watch_count=3, watch_connections=1,
    watch_paths=2, watches=2, ephemerals_count=1, data_size=44, sessions=2,
    peer_state="following - broadcast",
    conf=(("clientPort", "2181"), ("dataDir", "/var/lib/zmqzab/n1"), ("tickTime", "100"),
          ("minSessionTimeout", "200"), ("maxSessionTimeout", "2000"), ("serverId", "1")),
    environment=(("zookeeper.version", "3.8.4-zmqzab-0.1"), ("host.name", "n1"),
                 ("python.version", "3.12.3")))

LEADER = ServerStatus(version="3.8.4-zmqzab-0.1", mode="leader", latency_avg_ms=0.0, zxid=0,
                      node_count=4, followers=2, synced_followers=2, pending_syncs=0,
                      proposal_sizes=(-1, -1, -1))


def text(word: str, status: ServerStatus) -> str:
    return answer(word, status).decode()


def test_ruok_says_imok_without_a_newline():
    assert answer("ruok", FOLLOWER) == b"imok"


def test_srvr_is_serverstats_and_the_node_count():
    assert text("srvr", FOLLOWER) == (
        "Zookeeper version: 3.8.4-zmqzab-0.1\n"
        "Latency min/avg/max: 0/0.5/3\n"
        "Received: 12\n"
        "Sent: 11\n"
        "Connections: 2\n"
        "Outstanding: 1\n"
        "Zxid: 0x100000002\n"
        "Mode: follower\n"
        "Node count: 5\n")


def test_srvr_on_a_leader_adds_the_proposal_sizes():
    assert text("srvr", LEADER) == (
        "Zookeeper version: 3.8.4-zmqzab-0.1\n"
        "Latency min/avg/max: 0/0.0/0\n"
        "Received: 0\n"
        "Sent: 0\n"
        "Connections: 0\n"
        "Outstanding: 0\n"
        "Zxid: 0x0\n"
        "Mode: leader\n"
        "Node count: 4\n"
        "Proposal sizes last/min/max: -1/-1/-1\n")


def test_stat_lists_the_clients_briefly_first():
    assert text("stat", FOLLOWER) == (
        "Zookeeper version: 3.8.4-zmqzab-0.1\n"
        "Clients:\n"
        " /127.0.0.1:50122[1](queued=0,recved=5,sent=4)\n"
        " /127.0.0.1:50124[0](queued=1,recved=1,sent=0)\n"
        "\n"
        "Latency min/avg/max: 0/0.5/3\n"
        "Received: 12\n"
        "Sent: 11\n"
        "Connections: 2\n"
        "Outstanding: 1\n"
        "Zxid: 0x100000002\n"
        "Mode: follower\n"
        "Node count: 5\n")


def test_cons_lists_each_connection_in_full_and_a_session_less_one_briefly():
    assert text("cons", FOLLOWER) == (
        " /127.0.0.1:50122[1](queued=0,recved=5,sent=4,sid=0x100000a2b3c0000,lop=GETD,"
        "est=1733370000123,to=30000,lcxid=0x3,lzxid=0x100000002,lresp=1733370001000,llat=1,"
        "minlat=0,avglat=1,maxlat=2)\n"
        " /127.0.0.1:50124[0](queued=1,recved=1,sent=0)\n"
        "\n")


def test_cons_leaves_out_lcxid_before_any_request_and_prints_negative_ids_as_java():
    conn = ConnectionStatus(remote="10.0.0.2:4000", queued=0, received=1, sent=1,
                            session_id=-0x7f00000000000000, last_zxid=-1)
    status = ServerStatus(version="v", mode="standalone", connections=(conn,))
    assert text("cons", status) == (
        " /10.0.0.2:4000[1](queued=0,recved=1,sent=1,sid=0x8100000000000000,lop=NA,est=0,"
        "to=0,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)\n\n")


def test_mntr_is_tab_separated_zk_keys():
    assert text("mntr", FOLLOWER) == (
        "zk_version\t3.8.4-zmqzab-0.1\n"
        "zk_server_state\tfollower\n"
        "zk_peer_state\tfollowing - broadcast\n"
        "zk_avg_latency\t0.5\n"
        "zk_max_latency\t3\n"
        "zk_min_latency\t0\n"
        "zk_packets_received\t12\n"
        "zk_packets_sent\t11\n"
        "zk_num_alive_connections\t2\n"
        "zk_outstanding_requests\t1\n"
        "zk_znode_count\t5\n"
        "zk_watch_count\t3\n"
        "zk_ephemerals_count\t1\n"
        "zk_approximate_data_size\t44\n"
        "zk_global_sessions\t2\n")


def test_mntr_on_a_leader_adds_followers_syncs_and_proposal_sizes():
    lines = text("mntr", LEADER).splitlines()
    assert lines[:2] == ["zk_version\t3.8.4-zmqzab-0.1", "zk_server_state\tleader"]
    assert lines[-6:] == ["zk_followers\t2", "zk_synced_followers\t2", "zk_pending_syncs\t0",
                          "zk_last_proposal_size\t-1", "zk_min_proposal_size\t-1",
                          "zk_max_proposal_size\t-1"]
    assert "zk_avg_latency\t0.0" in lines


def test_envi_lists_the_environment():
    assert text("envi", FOLLOWER) == (
        "Environment:\n"
        "zookeeper.version=3.8.4-zmqzab-0.1\n"
        "host.name=n1\n"
        "python.version=3.12.3\n")


def test_conf_lists_the_config_in_order():
    assert text("conf", FOLLOWER) == (
        "clientPort=2181\n"
        "dataDir=/var/lib/zmqzab/n1\n"
        "tickTime=100\n"
        "minSessionTimeout=200\n"
        "maxSessionTimeout=2000\n"
        "serverId=1\n")


def test_wchs_summarises_the_watches():
    assert text("wchs", FOLLOWER) == "1 connections watching 2 paths\nTotal watches:2\n"


@pytest.mark.parametrize("word", ["srvr", "stat", "cons", "mntr", "conf", "wchs"])
def test_a_node_that_is_not_serving_says_so(word):
    status = ServerStatus(version="v", mode="follower", serving=False)
    assert text(word, status) == "This ZooKeeper instance is not currently serving requests\n"


def test_ruok_and_envi_answer_even_when_not_serving():
    status = ServerStatus(version="v", mode="follower", serving=False,
                          environment=(("zookeeper.version", "v"),))
    assert text("ruok", status) == "imok"
    assert text("envi", status) == "Environment:\nzookeeper.version=v\n"


@pytest.mark.parametrize("word", sorted(set(FOUR_LETTER_WORDS) - set(SERVED_FOUR_LETTER_WORDS)))
def test_a_known_word_not_served_gets_the_whitelist_refusal(word):
    assert text(word, FOLLOWER) == f"{word} is not executed because it is not in the whitelist.\n"


def test_an_unknown_word_is_a_caller_bug():
    with pytest.raises(ValueError, match="four-letter"):
        answer("abcd", FOLLOWER)


@pytest.mark.parametrize("value, expected", [
    (0.0, "0.0"), (0.5, "0.5"), (2.0, "2.0"), (1 / 3, "0.3333333333333333"),
    (1234567.5, "1234567.5"), (1e7, "1.0E7"), (12345678.9, "1.23456789E7"), (1.5e-4, "1.5E-4"),
    (0.001, "0.001"), (-2.5, "-2.5")])
def test_java_double_prints_as_double_to_string(value, expected):
    assert java_double(value) == expected


def test_java_hex_is_long_to_hex_string():
    assert (java_hex(0), java_hex(255), java_hex(-1)) == ("0", "ff", "ffffffffffffffff")


def test_stat_as_a_standalone_zookeeper_answered_it():
    """A stat answered by ZooKeeper 3.6.3 standalone (published output, version line aside),
    the asking connection listed with interest ops 0, one frame received and none sent."""
    asking = ConnectionStatus(remote="127.0.0.1:35102", queued=0, received=1, sent=0,
                              interest_ops=0)
    status = ServerStatus(version="3.6.3--6401e4ad2087061bc6b9f80dec2d69f2e3c8660a, built on "
                                  "04/08/2021 16:35 GMT", mode="standalone",
                          packets_received=5, packets_sent=4, connections=(asking,), zxid=2,
                          node_count=5)
    assert text("stat", status) == (
        "Zookeeper version: 3.6.3--6401e4ad2087061bc6b9f80dec2d69f2e3c8660a, built on "
        "04/08/2021 16:35 GMT\n"
        "Clients:\n"
        " /127.0.0.1:35102[0](queued=0,recved=1,sent=0)\n"
        "\n"
        "Latency min/avg/max: 0/0.0/0\n"
        "Received: 5\n"
        "Sent: 4\n"
        "Connections: 1\n"
        "Outstanding: 0\n"
        "Zxid: 0x2\n"
        "Mode: standalone\n"
        "Node count: 5\n")
