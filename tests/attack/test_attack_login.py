# test_attack_login.py - the unauthenticated password paths: empty passwords (UBSan once saw NULL passed
# to memchr), and a flood of wrong passwords that must neither starve other calls (bcrypt runs on a
# small pool of its own with a bounded queue) nor keep a correct password from another address out.
import grpc
from immudb.grpc import schema_pb2

from attack_util import login_token, raw_call


def test_empty_passwords_are_refused_cleanly(sealdb):
    code, details, _ = raw_call(sealdb.address, "Login",
                                schema_pb2.LoginRequest(user=b"immudb", password=b"").SerializeToString())
    assert (code, details) == (grpc.StatusCode.UNKNOWN, "invalid user name or password")
    tok = login_token(sealdb.address)
    code, details, _ = raw_call(sealdb.address, "ChangePassword", schema_pb2.ChangePasswordRequest(
        user=b"immudb", oldPassword=b"", newPassword=b"Other_pw1").SerializeToString(), [("authorization", tok)])
    assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED, "old password is incorrect")
    login_token(sealdb.address)   # the password did not change
    assert sealdb.proc.poll() is None
    assert "runtime error" not in sealdb.log()
