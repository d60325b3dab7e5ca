# test_attack_small_requests.py - many small, mixed unary requests: gRPC inlines request bytes of a few
# dozen bytes inside its slice struct, so the server must decode them where they live (ASan once saw
# stack-use-after-scope in protobuf_c_message_unpack here); every answer must be the right one.
import threading

import grpc
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2, schema_pb2_grpc

from attack_util import login_token


def test_many_small_mixed_requests_decode_correctly(sealdb):
    token = login_token(sealdb.address)
    md = [("authorization", token)]
    errors = []

    def worker(n):
        stub = schema_pb2_grpc.ImmuServiceStub(grpc.insecure_channel(sealdb.address))
        try:
            for i in range(1500):
                k = b"k%d-%d" % (n, i % 50)
                op = i % 4
                if op == 0:
                    stub.Set(schema_pb2.SetRequest(KVs=[schema_pb2.KeyValue(key=k, value=k + b"=v")]),
                             metadata=md, timeout=30)
                elif op == 1:
                    try:
                        e = stub.Get(schema_pb2.KeyRequest(key=k), metadata=md, timeout=30)
                        if e.key != k or e.value != k + b"=v":
                            errors.append("Get %r answered %r=%r" % (k, e.key, e.value))
                    except grpc.RpcError as ex:
                        if "key not found" not in (ex.details() or ""):
                            raise
                elif op == 2:
                    assert stub.Health(empty_pb2.Empty(), timeout=30).status
                else:
                    st = stub.CurrentState(empty_pb2.Empty(), metadata=md, timeout=30)
                    if st.db != "defaultdb":
                        errors.append("CurrentState db %r" % st.db)
        except Exception as ex:  # noqa: BLE001 - reported below
            errors.append(repr(ex))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:3]
    assert sealdb.proc.poll() is None
    assert "AddressSanitizer" not in sealdb.log()
