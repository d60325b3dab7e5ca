# test_setup_docs.py - the repository stands alone: no file points to a specification outside it, and
# every "docs/format.md N.M" / "docs/api.md N.M" citation in code, tests and docs names a section
# that exists.
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_DIRS = {".git", "build", "data", "__pycache__"}
TEXT_EXT = (".c", ".h", ".py", ".proto", ".md", ".sh", ".in", ".1", ".service", ".sysusers", "Makefile", "run")


def repo_files():
    for d, dirs, files in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not os.path.islink(os.path.join(d, x))]
        for f in files:
            if f.endswith(TEXT_EXT):
                yield os.path.join(d, f)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def test_no_reference_to_a_spec_outside_the_repository():
    outside = re.compile(r"spec/(api|formats|replication|rest)\.md|(?<![/\w])formats\.md|\.\./shared|the spec's")
    bad = []
    for p in repo_files():
        if os.path.abspath(p) == os.path.abspath(__file__):
            continue
        for n, line in enumerate(read(p).splitlines(), 1):
            if outside.search(line):
                bad.append("%s:%d: %s" % (os.path.relpath(p, ROOT), n, line.strip()[:100]))
    assert not bad, "\n".join(bad)


def sections(doc):
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", read(os.path.join(ROOT, "docs", doc)), re.M))


def test_doc_section_citations_exist():
    have = {doc: sections(doc) for doc in ("format.md", "api.md")}
    assert {"0", "4.5", "11.2", "14"} <= have["format.md"] and {"0.1", "1.8", "2.9", "4.1"} <= have["api.md"]
    cite = re.compile(r"(?:docs/)?(format|api)\.md(?: section)? (\d+(?:\.\d+)?)")
    bad, seen = [], 0
    for p in repo_files():
        for n, line in enumerate(read(p).splitlines(), 1):
            for doc, sec in cite.findall(line):
                seen += 1
                if sec not in have[doc + ".md"]:
                    bad.append("%s:%d: %s.md %s" % (os.path.relpath(p, ROOT), n, doc, sec))
    assert seen > 40
    assert not bad, "\n".join(bad)
