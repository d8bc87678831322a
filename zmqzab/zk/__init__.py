"""ZooKeeper's client protocol on the wire (issue 13): pure, no I/O, no clock.

* jute.py: the jute encoding (int, long, boolean, buffer, ustring, vector) and DecodeError;
* records.py: the records of zookeeper.jute the client protocol uses (ConnectRequest, Stat, ...);
* opcodes.py: ZooDefs.OpCode, the special xids, the enums events and watch requests carry;
* protocol.py: which record goes with which opcode; decode a request, encode its reply;
* framing.py: the TCP stream cut into frames, four-letter words detected;
* _codes.py: KeeperException.Code until the merge (then zmqzab.tree.errors.Code).
"""
