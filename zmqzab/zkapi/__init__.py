"""ZooKeeper's client API on top of ZAB: the pure parts between the wire codec (zmqzab/zk/) and
the data tree (zmqzab/tree/): requests on their way to the leader and their txns (ops.py), the
leader's prepare (prep.py), and the answers a node builds from what it applied (replies.py)."""
