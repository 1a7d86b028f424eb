#!/usr/bin/python3
"""k8s_mock.py - a loopback stand-in for a Kubernetes API server and a front
node's control API, for actuate's tests. Each request is checked (method,
path, Authorization, Content-Type, body) and logged as one line:

  OK METHOD PATH CONTENT-TYPE CANONICAL-JSON-BODY
  BAD METHOD PATH why

Options: --port-file F (the chosen port is written there), --log F,
--token T (bearer token required on API paths; a request to /config that
carries it is BAD: the token leaked to the control URL), --secret S (bearer
required on /config), --ns NS, --fail-all CODE (answer CODE to everything),
--fail-first N (answer 503 to the first N requests), --echo-auth CODE
(answer CODE with a long body that echoes the Authorization header, as a
careless server might), --delay S (answer every GET 200 after S seconds,
one request at a time: a slow service for trace-collect), --tls CERT KEY
(serve HTTPS).
"""
import argparse
import json
import re
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--token")
ap.add_argument("--secret")
ap.add_argument("--echo-auth", type=int)
ap.add_argument("--delay", type=float)
ap.add_argument("--ns", default="mesh")
ap.add_argument("--fail-all", type=int)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--tls", nargs=2)
args = ap.parse_args()
state = {"n": 0}
logf = open(args.log, "a", buffering=1)

VS = re.compile(r"^/apis/networking\.istio\.io/v1beta1/namespaces/([^/]+)/"
                r"virtualservices/([^/]+)$")
DEP = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)$")


def check_vs(body):
    http = body["spec"]["http"]
    assert isinstance(http, list) and http, "spec.http must be a list"
    for r in http:
        ws = [d["weight"] for d in r["route"]]
        assert len(ws) == 2 and sum(ws) == 100, "weights must sum to 100"
        assert all(isinstance(w, int) for w in ws), "weights are integers"
        for d in r["route"]:
            assert set(d["destination"]) == {"host", "subset"}
        if "match" in r:
            cls = r["match"][0]["headers"]["x-user-class"]["exact"]
            assert cls in ("premium", "freemium")


def check_dep(body, ctype):
    if ctype == "application/merge-patch+json":
        assert set(body) == {"spec"} and set(body["spec"]) == {"replicas"}
        assert isinstance(body["spec"]["replicas"], int)
    elif ctype == "application/strategic-merge-patch+json":
        c = body["spec"]["template"]["spec"]["containers"]
        assert len(c) == 1 and "name" in c[0]
        assert re.match(r"^\d+m$", c[0]["resources"]["limits"]["cpu"])
    else:
        raise AssertionError("content type " + ctype)


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        state["n"] += 1
        ctype = self.headers.get("Content-Type", "-")
        auth = self.headers.get("Authorization")
        if args.delay is not None and self.command == "GET":
            time.sleep(args.delay)
            return self.answer(200, {"served": self.path})
        if args.echo_auth:
            logf.write("ECHO %s %s\n" % (self.command, self.path))
            return self.answer(args.echo_auth, {
                "message": "denied: you sent " + str(auth) + " " + "x" * 5000})
        if args.fail_all:
            logf.write("%s %s\n" % (self.command, self.path))
            return self.answer(args.fail_all, {"message": "failing on purpose"})
        if state["n"] <= args.fail_first:
            logf.write("RETRY %s %s\n" % (self.command, self.path))
            return self.answer(503, {"message": "try again"})
        control = self.path == "/config"
        if control and args.token and auth == "Bearer " + args.token:
            logf.write("BAD %s %s the API token reached the control URL\n"
                       % (self.command, self.path))
            return self.answer(403, {"message": "token leaked"})
        want = args.secret if control else args.token
        if want and auth != "Bearer " + want:
            logf.write("BAD %s %s unauthorized\n" % (self.command, self.path))
            return self.answer(401, {"kind": "Status", "message": "Unauthorized"})
        try:
            body = json.loads(raw) if raw else None
            m_vs, m_dep = VS.match(self.path), DEP.match(self.path)
            if m_vs or m_dep:
                assert self.command == "PATCH", "method " + self.command
                m = m_vs or m_dep
                assert m.group(1) == args.ns, "namespace " + m.group(1)
                if m_vs:
                    assert ctype == "application/merge-patch+json", ctype
                    check_vs(body)
                else:
                    check_dep(body, ctype)
            elif self.path == "/config":
                assert self.command == "PUT", "method " + self.command
                assert ctype == "application/json", ctype
                assert all(isinstance(v, (int, float)) for v in body.values())
            else:
                raise AssertionError("unknown path")
        except (AssertionError, KeyError, TypeError, ValueError) as e:
            logf.write("BAD %s %s %s\n" % (self.command, self.path, e))
            return self.answer(422, {"message": str(e)})
        logf.write("OK %s %s %s %s\n" % (self.command, self.path, ctype,
                                         json.dumps(body, sort_keys=True,
                                                    separators=(",", ":"))))
        self.answer(200, {"kind": "Status", "status": "Success"})

    do_GET = do_PUT = do_PATCH = do_POST = handle_any


srv = HTTPServer(("127.0.0.1", 0), H)
if args.tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
