# test_readme.py - the README's "Connect with immudb-py" snippet, extracted from README.md and run
# as written (only the address changed to the test server's port), so the README stays true.
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_snippet():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    sec = text.split("## Connect with immudb-py", 1)[1]
    m = re.search(r"```python\n(.*?)```", sec, re.S)
    assert m, "README lost its immudb-py snippet"
    return m.group(1)


def test_readme_immudb_py_snippet(sealdb, capsys):
    code = readme_snippet()
    assert "ImmudbClient('127.0.0.1:3322')" in code and "verifiedSet" in code and "verifiedGet" in code
    code = code.replace("127.0.0.1:3322", sealdb.address)
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert ns["entry"].value == b"hello" and ns["entry"].verified
    assert ns["tx"].verified
    out = capsys.readouterr().out.split()
    assert out == [str(ns["tx"].id), "b'hello'", "True"]
