#!/usr/bin/python3
"""tb_http.py - tiny HTTP client for the end-to-end tests (no curl needed).

  tb_http.py METHOD URL [BODY] [HEADER: VALUE ...]
prints "STATUS SERVED-BY" on the first line and the body after it. A body
goes as Content-Type: application/json unless a Content-Type header is
given; "Authorization: Bearer $TB_SECRET" is sent when TB_SECRET is set and
no Authorization header is given (a header given as "Name:" with no value
is left out).
  tb_http.py count URL N [HEADER: VALUE ...]
sends N GETs and prints "node1 K1 node2 K2 other K3".
"""
import os
import sys
import urllib.request
import urllib.error


def call(method, url, body=None, headers=()):
    req = urllib.request.Request(url, data=body.encode() if body else None,
                                 method=method)
    given = {h.split(":", 1)[0].strip().lower() for h in headers}
    if body and "content-type" not in given:
        req.add_header("Content-Type", "application/json")
    if os.environ.get("TB_SECRET") and "authorization" not in given:
        req.add_header("Authorization", "Bearer " + os.environ["TB_SECRET"])
    for h in headers:
        k, v = h.split(":", 1)
        if v.strip():
            req.add_header(k.strip(), v.strip())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("X-Served-By", "-"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("X-Served-By", "-"), e.read().decode()


def main():
    if sys.argv[1] == "count":
        url, n, hdrs = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
        counts = {"node1": 0, "node2": 0, "other": 0}
        for _ in range(n):
            st, by, _ = call("GET", url, None, hdrs)
            key = by if st == 200 and by in counts else "other"
            counts[key] += 1
        print("node1 %d node2 %d other %d" % (counts["node1"], counts["node2"],
                                              counts["other"]))
        return
    method, url = sys.argv[1], sys.argv[2]
    body = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3][:1] == "{" \
        else None
    hdrs = sys.argv[4:] if body is not None else sys.argv[3:]
    st, by, text = call(method, url, body, hdrs)
    print(st, by)
    print(text, end="")


main()
