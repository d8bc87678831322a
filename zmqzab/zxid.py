"""zxid arithmetic: a 64-bit id, high 32 bits the epoch, low 32 bits a counter (as in ZooKeeper).

A person always reads a zxid as ``epoch:counter`` (e.g. ``3:17``); code keeps the int.
"""

COUNTER_BITS = 32
COUNTER_MASK = (1 << COUNTER_BITS) - 1
#: ZK-1277: before the counter overflows, the leader forces a new epoch.
COUNTER_MAX = COUNTER_MASK - 1


def make_zxid(epoch: int, counter: int) -> int:
    return (epoch << COUNTER_BITS) | counter


def zxid_epoch(zxid: int) -> int:
    return zxid >> COUNTER_BITS


def zxid_counter(zxid: int) -> int:
    return zxid & COUNTER_MASK


def fmt_zxid(zxid: int) -> str:
    return f"{zxid >> COUNTER_BITS}:{zxid & COUNTER_MASK}"


def parse_zxid(text: str) -> int:
    """Parse ``epoch:counter`` (or a plain int); ValueError with a readable message otherwise."""
    text = text.strip()
    if ":" in text:
        epoch_text, counter_text = text.split(":", 1)
        epoch, counter = int(epoch_text), int(counter_text)
        if epoch < 0 or counter < 0 or counter > COUNTER_MASK:
            raise ValueError(f"zxid {text!r} is out of range")
        return make_zxid(epoch, counter)
    value = int(text)
    if value < 0:
        raise ValueError(f"zxid {text!r} is negative")
    return value


def is_next(zxid_last: int, zxid: int) -> bool:
    """True if ``zxid`` may directly follow ``zxid_last`` in a log.

    Within an epoch counters are contiguous; a new epoch's first txn has counter 1 and may follow
    anything from an earlier epoch (an epoch whose leader proposed nothing leaves no trace).
    """
    if zxid_epoch(zxid) == zxid_epoch(zxid_last):
        return zxid == zxid_last + 1
    return zxid_epoch(zxid) > zxid_epoch(zxid_last) and zxid_counter(zxid) == 1
