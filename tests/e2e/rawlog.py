#!/usr/bin/python3
"""rawlog.py FILE [TAG] - summarises trace-collect's msgpack request log:
prints "n N ok K s429 R other F node1 A node2 B" over requests (of
configuration TAG when given) that were in a recorded window."""
import sys
import msgpack

with open(sys.argv[1], "rb") as f:
    up = msgpack.Unpacker(f, raw=False)
    head = next(up)
    assert head["format"] == "meshrl-reqlog" and head["version"] == 1, head
    fields = head["fields"]
    ix = {k: i for i, k in enumerate(fields)}
    c = dict(n=0, ok=0, s429=0, other=0, node1=0, node2=0)
    for rec in up:
        if len(sys.argv) > 2 and rec[ix["tag"]] != int(sys.argv[2]):
            continue
        if rec[ix["window"]] < 0:
            continue  # settling
        c["n"] += 1
        st = rec[ix["status"]]
        if st == 200:
            c["ok"] += 1
            if rec[ix["node"]] == 1:
                c["node1"] += 1
            elif rec[ix["node"]] == 2:
                c["node2"] += 1
        elif st == 429:
            c["s429"] += 1
        else:
            c["other"] += 1
print(" ".join("%s %d" % (k, v) for k, v in c.items()))
