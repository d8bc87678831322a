"""ZooKeeper's client protocol on the wire (issue 13): pure, no I/O, no clock.

* jute.py: the jute encoding (int, long, boolean, buffer, ustring, vector), the limits
  (jute.maxbuffer) and DecodeError;
* records.py: the records of zookeeper.jute the client protocol uses (ConnectRequest, Stat, ...);
* opcodes.py: ZooDefs.OpCode, the special xids, the enums events and watch requests carry;
* protocol.py: which record goes with which opcode; decode a request, encode its reply;
* framing.py: the TCP stream cut into frames, four-letter words detected;
* session.py: one connection's requests in order (reads behind the session's writes, replies
  in xid order, watch events before the replies that show them);
* words.py: the four-letter words' answers (ruok, srvr, stat, mntr, envi, conf, cons, wchs);
* error codes: zmqzab.tree.errors.Code (KeeperException.Code).

How a server uses it, per connection (the caller owns the socket)::

    decoder = FrameDecoder()
    for item in decoder.feed(received):          # FrameError: close the connection
        if isinstance(item, FourLetterWord):     # answer item.word, then close
            ...
        elif not connected:
            connect = decode_connect_request(item)   # DecodeError: close
            read_only = None if connect.read_only is None else False
            send(encode_connect_response(ConnectResponse(0, timeout, session_id, passwd,
                                                         read_only)))
        else:
            request = decode_request(item)       # UnknownOpcodeError: UNIMPLEMENTED, xid kept
            ...                                  # request.header.xid / .type, request.body
            send(encode_reply(xid, zxid, err, body_or_None))
    send(encode_notification(WatcherEvent(EventType.NodeDataChanged,
                                          KeeperState.SyncConnected, path)))

ConnectResponse's ``read_only`` is None when the client sent none (ZooKeeperServer leaves the
byte out for such an old client), else False (zmqzab has no read-only mode). A reply's frame
should stay within 0xfffff bytes too: the Java client refuses a longer one (ClientCnxnSocket,
"Packet len ... is out of range"), kazoo does not check.
"""
