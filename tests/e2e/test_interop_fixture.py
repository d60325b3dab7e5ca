# test_interop_fixture.py - the reference-immudb fixture of the interop tests fails (never skips) when
# the immudb or immuadmin binary is missing, so a machine without build/ref cannot pass them silently.
import pytest

import immudb_ref


def test_missing_reference_binaries_fail_the_test(monkeypatch, tmp_path):
    monkeypatch.setattr(immudb_ref, "IMMUDB_BIN", str(tmp_path / "no-immudb"))
    monkeypatch.setattr(immudb_ref, "IMMUADMIN_BIN", str(tmp_path / "no-immuadmin"))
    with pytest.raises(pytest.fail.Exception, match="get-immudb.sh"):
        immudb_ref.ImmudbServer(str(tmp_path)).start()
    srv = immudb_ref.ImmudbServer(str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="get-immudb.sh"):
        immudb_ref.immuadmin(srv, "hot-backup", "defaultdb")


def test_reference_binaries_are_immudb_1_9_5():
    import subprocess
    for b in (immudb_ref.IMMUDB_BIN, immudb_ref.IMMUADMIN_BIN):
        out = subprocess.run([immudb_ref.require_ref(b), "version"], capture_output=True, text=True, timeout=30)
        assert out.stdout.split()[-1:] == ["1.9.5"], out.stdout + out.stderr
