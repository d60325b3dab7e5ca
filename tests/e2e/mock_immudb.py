# mock_immudb.py - a scripted ImmuService (grpcio + immudb-py's generated stubs) that answers with
# the recorded server answers of tests/vectors/sdk_flows.json, optionally tampered or rolled back.
# Lets the client tests hit exact proof bytes over real gRPC: a malicious or stale server on demand.
import json
import os
import sys
from concurrent import futures

import grpc
from immudb.grpc import schema_pb2, schema_pb2_grpc
from google.protobuf import empty_pb2

VECTORS = os.path.join(os.path.dirname(__file__), "..", "vectors", "sdk_flows.json")
UUID = "cnb2tq1l0s1bqq1e0q3g"


def hb(s):
    return bytes.fromhex(s) if s else b""


def kvmd(m):
    if not m:
        return None
    md = schema_pb2.KVMetadata(deleted=m.get("deleted", False), nonIndexable=m.get("nonIndexable", False))
    if m.get("expiresAt") is not None:
        md.expiration.expiresAt = m["expiresAt"]
    return md


def header(h):
    o = schema_pb2.TxHeader(id=h["id"], prevAlh=hb(h["prevAlh"]), ts=h["ts"], nentries=h["nentries"],
                            eH=hb(h["eH"]), blTxId=h["blTxId"], blRoot=hb(h["blRoot"]), version=h["version"])
    if h.get("metadata"):
        o.metadata.truncatedTxID = h["metadata"].get("truncatedTxID", 0)
        o.metadata.extra = hb(h["metadata"].get("extra", ""))
    return o


def vtx(r):
    o = schema_pb2.VerifiableTx()
    o.tx.header.CopyFrom(header(r["tx"]["header"]))
    for e in r["tx"].get("entries", []):
        te = o.tx.entries.add(key=hb(e["key"]), hValue=hb(e["hValue"]), vLen=e["vLen"])
        md = kvmd(e.get("metadata"))
        if md:
            te.metadata.CopyFrom(md)
    d = r["dualProof"]
    p = o.dualProof
    p.sourceTxHeader.CopyFrom(header(d["sourceTxHeader"]))
    p.targetTxHeader.CopyFrom(header(d["targetTxHeader"]))
    p.inclusionProof.extend(hb(x) for x in d["inclusionProof"])
    p.consistencyProof.extend(hb(x) for x in d["consistencyProof"])
    p.lastInclusionProof.extend(hb(x) for x in d["lastInclusionProof"])
    p.targetBlTxAlh = hb(d["targetBlTxAlh"])
    lp = d["linearProof"]
    p.linearProof.sourceTxId = lp["sourceTxId"]
    p.linearProof.TargetTxId = lp["TargetTxId"]
    p.linearProof.terms.extend(hb(x) for x in lp["terms"])
    lap = d.get("LinearAdvanceProof")
    if lap:
        p.LinearAdvanceProof.linearProofTerms.extend(hb(x) for x in lap["linearProofTerms"])
        for ip in lap["inclusionProofs"]:
            x = p.LinearAdvanceProof.inclusionProofs.add(leaf=ip["leaf"], width=ip["width"])
            x.terms.extend(hb(t) for t in ip["terms"])
    if r.get("signature"):
        o.signature.publicKey = hb(r["signature"]["publicKey"])
        o.signature.signature = hb(r["signature"]["signature"])
    return o


def ventry(r):
    o = schema_pb2.VerifiableEntry()
    e = r["entry"]
    o.entry.tx = e["tx"]
    o.entry.key = hb(e["key"])
    o.entry.value = hb(e["value"])
    o.entry.revision = e.get("revision", 0)
    md = kvmd(e.get("metadata"))
    if md:
        o.entry.metadata.CopyFrom(md)
    rb = e.get("referencedBy")
    if rb:
        o.entry.referencedBy.tx = rb["tx"]
        o.entry.referencedBy.key = hb(rb["key"])
        o.entry.referencedBy.atTx = rb["atTx"]
        o.entry.referencedBy.revision = rb.get("revision", 0)
    o.verifiableTx.CopyFrom(vtx(r["verifiableTx"]))
    ip = r["inclusionProof"]
    o.inclusionProof.leaf = ip["leaf"]
    o.inclusionProof.width = ip["width"]
    o.inclusionProof.terms.extend(hb(t) for t in ip["terms"])
    return o


class Mock(schema_pb2_grpc.ImmuServiceServicer):
    """mode: "honest", "tamper-value" (VerifiableGet values altered), "stale" (CurrentState at tx 11)."""

    def __init__(self, mode):
        self.mode = mode
        flows = json.load(open(VECTORS))["flows"]
        self.gets = {}
        for f in flows:
            if f["op"] == "verifiedGet":
                self.gets[(hb(f["request"]["key"]), f["request"]["proveSinceTx"])] = f["response"]
        self.state13 = next(f["state_before"] for f in flows if f["op"] == "verifiedGet" and f["state_before"]["txId"] == 13)
        self.state11 = next(f["state_before"] for f in flows if f["state_before"]["txId"] == 11)

    def _hdr(self, ctx):
        ctx.send_initial_metadata((("immudb-uuid", UUID),))

    def Health(self, req, ctx):
        self._hdr(ctx)
        return schema_pb2.HealthResponse(status=True, version="mock")

    def Login(self, req, ctx):
        self._hdr(ctx)
        return schema_pb2.LoginResponse(token="tok-" + req.user.decode())

    def UseDatabase(self, req, ctx):
        self._hdr(ctx)
        return schema_pb2.UseDatabaseReply(token="tok-db")

    def CurrentState(self, req, ctx):
        self._hdr(ctx)
        s = self.state11 if self.mode == "stale" else self.state13
        return schema_pb2.ImmutableState(db="defaultdb", txId=s["txId"], txHash=hb(s["txHash"]))

    def VerifiableGet(self, req, ctx):
        self._hdr(ctx)
        r = self.gets.get((req.keyRequest.key, req.proveSinceTx))
        if self.mode == "stale" and req.proveSinceTx > 11:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "illegal state")
        if r is None:
            ctx.abort(grpc.StatusCode.UNKNOWN, "tbtree: key not found")
        o = ventry(r)
        if self.mode == "tamper-value":
            o.entry.value = b"TAMPERED"
        return o

    def VerifiableTxById(self, req, ctx):
        self._hdr(ctx)
        ctx.abort(grpc.StatusCode.UNKNOWN, "tx not found")


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    schema_pb2_grpc.add_ImmuServiceServicer_to_server(Mock(mode), server)
    if len(sys.argv) > 3:   # TLS: certdir holding ca.pem, server.pem, server.key; "mtls" requires client certs
        d = sys.argv[3]
        rd = lambda n: open(os.path.join(d, n), "rb").read()
        creds = grpc.ssl_server_credentials([(rd("server.key"), rd("server.pem"))], root_certificates=rd("ca.pem"),
                                            require_client_auth=len(sys.argv) > 4 and sys.argv[4] == "mtls")
        server.add_secure_port("127.0.0.1:%d" % port, creds)
    else:
        server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
