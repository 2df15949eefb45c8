"""ZooKeeper requests kazoo 2.11 does not have: containers, TTL nodes,
persistent watches, getEphemerals, getAllChildrenNumber; and a recorder of
every watch event a session receives (persistent-watch events included).

Each request is a record with a `type`, `serialize()` and `deserialize()`,
sent with `call(client, request)`; paths are absolute on the server (add the
client's chroot yourself, `client.chroot + path`).
"""
from collections import namedtuple
import struct

from kazoo.protocol.serialization import (Create2, Watch, int_struct, read_string,
                                          write_string)
from kazoo.protocol.states import ZnodeStat
from kazoo.protocol.serialization import stat_struct

EVENT_NAMES = {1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
               4: "NodeChildrenChanged", 5: "DataWatchRemoved",
               6: "ChildWatchRemoved", 7: "PersistentWatchRemoved"}

# CreateMode flags
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6


class CreateContainer(namedtuple("CreateContainer", "path data acl flags")):
    """createContainer (19): a Create2 body with flags 4; replies path + Stat."""
    type = 19
    serialize = Create2.serialize
    deserialize = Create2.deserialize


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (21): Create2 body plus a long ttl; replies path + Stat."""
    type = 21

    def serialize(self):
        return bytes(Create2.serialize(self)) + struct.pack("!q", self.ttl)

    @classmethod
    def deserialize(cls, buf, offset):
        path, offset = read_string(buf, offset)
        return path, ZnodeStat._make(stat_struct.unpack_from(buf, offset))


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (106); mode 0 persistent, 1 persistent recursive. ZooKeeper
    replies with an ErrorResponse body {int err} (the Java client needs it)."""
    type = 106

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buf, offset):
        if len(buf) - offset < 4:
            raise ValueError(f"addWatch reply has {len(buf) - offset} body bytes, "
                             "ZooKeeper sends 4 (ErrorResponse)")
        return int_struct.unpack_from(buf, offset)[0] == 0


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    """getEphemerals (103): the session's ephemerals under a path prefix."""
    type = 103

    def serialize(self):
        return write_string(self.prefix)

    @classmethod
    def deserialize(cls, buf, offset):
        count = int_struct.unpack_from(buf, offset)[0]
        offset += 4
        out = []
        for _ in range(max(count, 0)):
            p, offset = read_string(buf, offset)
            out.append(p)
        return out


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    """getAllChildrenNumber (104): every descendant, counted."""
    type = 104

    def serialize(self):
        return write_string(self.path)

    @classmethod
    def deserialize(cls, buf, offset):
        return int_struct.unpack_from(buf, offset)[0]


def call(client, request, timeout=30):
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


def record_events(client, sink):
    """Append (event name, unchrooted path) to `sink` for every watch event
    the server sends this client, in arrival order (reader thread)."""
    conn = client._connection
    original = conn._read_watch_event

    def recording(buf, offset):
        w, _ = Watch.deserialize(buf, offset)
        sink.append((EVENT_NAMES.get(w.type, str(w.type)), client.unchroot(w.path)))
        if w.type in (1, 2, 3, 4):
            return original(buf, offset)
        return None  # kazoo 2.11 does not know the *Removed types

    conn._read_watch_event = recording
