"""The tree's size limits, each ZooKeeper's default, so that what fits in one fits in the other.

ZooKeeper bounds every buffer it reads with ``jute.maxbuffer`` (``BinaryInputArchive.maxBuffer``,
default 0xfffff = 1,048,575 bytes; reading allows ``zookeeper.jute.maxbuffer.extrasize`` more,
default 1024, for the request around the buffer). A znode's data and a path are jute buffers:
each is bounded here by the same 0xfffff bytes. The whole frame's bound (data + path + ACLs +
header) belongs to the codec (zmqzab/zk/), which closes the connection as ZooKeeper does; these
bounds are the tree's own defence, so that a txn a proposer let through never grows a node
beyond what a real client could read back.
"""

from __future__ import annotations

#: jute.maxbuffer's default (BinaryInputArchive): the largest data of one znode.
DATA_MAX_BYTES = 0xFFFFF
#: A path is a jute string, bounded by the same buffer limit (ZooKeeper has no smaller one).
PATH_MAX_BYTES = 0xFFFFF
#: ACL entries on one node: ZooKeeper has no explicit bound but the buffer; a small number keeps
#: a hostile request from making every snapshot huge. 1024 entries is far above any recipe.
ACL_MAX_ENTRIES = 1024
