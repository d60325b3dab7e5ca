# test_setup_install.py - `make install` as a packager runs it (DESTDIR staging root, PREFIX=/usr): both
# libraries with versioned names and SONAME links, both .pc files with the real prefix, headers, binaries,
# man pages, the systemd unit (checked by systemd-analyze verify). examples/embed.c and examples/client.c
# are then built with nothing but pkg-config and run with LD_LIBRARY_PATH, the client against the
# installed sealdb.
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import sealdb_proc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "/usr"
SOVERSION = "0"


def header_version():
    with open(os.path.join(ROOT, "include", "sealdb.h")) as f:
        return re.search(r'#define SEALDB_VERSION\s+"([^"]+)"', f.read()).group(1)


def build_dir():
    """The object tree of the binaries under test (build, or build/san for the sanitizer run)."""
    return os.path.relpath(os.path.dirname(os.path.abspath(sealdb_proc.SEALDB_BIN)), ROOT)


def sanitize_flags():
    san = os.environ.get("SANITIZE") or ("address,undefined" if build_dir().endswith("san") else "")
    return san


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(extra)
    return env


class Staged:
    def __init__(self, root):
        self.root = root
        self.stage = os.path.join(root, "stage")

    def path(self, rel):
        return os.path.join(self.stage, PREFIX.lstrip("/"), rel)

    def pkg_env(self, **extra):
        # the .pc files name the final prefix; the sysroot maps it into the staging root
        return clean_env(PKG_CONFIG_PATH=self.path("lib/pkgconfig"), PKG_CONFIG_SYSROOT_DIR=self.stage, **extra)

    def pkg_config(self, *args):
        r = subprocess.run(["pkg-config"] + list(args), env=self.pkg_env(), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    def cc(self, src, pkg, out):
        """Builds one example with only pkg-config's flags (plus the sanitizer of this test run)."""
        san = sanitize_flags()
        cmd = ["cc", "-std=c11", "-Wall", "-Werror"] + (["-fsanitize=" + san] if san else []) + \
              [os.path.join(ROOT, "examples", src), "-o", out] + self.pkg_config("--cflags", "--libs", pkg)
        r = subprocess.run(cmd, cwd=self.root, env=clean_env(), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, " ".join(cmd) + "\n" + r.stderr
        return out


@pytest.fixture(scope="module")
def staged():
    root = tempfile.mkdtemp(prefix="sealdb-install-")
    s = Staged(root)
    args = ["make", "--no-print-directory", "install", "B=" + build_dir(), "DESTDIR=" + s.stage, "PREFIX=" + PREFIX]
    if sanitize_flags():
        args.append("SANITIZE=" + sanitize_flags())
    r = subprocess.run(args, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    yield s
    shutil.rmtree(root, ignore_errors=True)


def test_install_layout(staged):
    for rel in ("bin/sealdb", "bin/seal", "bin/sealdb-cdc"):
        assert os.access(staged.path(rel), os.X_OK), rel
    for rel in ("include/sealdb.h", "include/sealdb_err.h", "include/sealdb_client.h", "lib/libsealdb.a",
                "lib/libsealdb-client.a", "share/man/man1/sealdb.1", "share/man/man1/seal.1",
                "lib/systemd/system/sealdb.service", "lib/sysusers.d/sealdb.conf",
                "share/man/man1/sealdb-cdc.1", "lib/systemd/system/sealdb-cdc.service"):
        assert os.path.isfile(staged.path(rel)), rel
    # nothing escapes PREFIX inside the staging root
    assert sorted(os.listdir(staged.stage)) == [PREFIX.strip("/")]


@pytest.mark.parametrize("lib", ["sealdb", "sealdb-client"])
def test_shared_library_versioned_names_and_soname(staged, lib):
    ver = header_version()
    real = staged.path("lib/lib%s.so.%s" % (lib, ver))
    assert os.path.isfile(real) and not os.path.islink(real)
    soname_link = staged.path("lib/lib%s.so.%s" % (lib, SOVERSION))
    dev_link = staged.path("lib/lib%s.so" % lib)
    # relative links, so they stay right wherever the staging root is unpacked
    assert os.readlink(soname_link) == "lib%s.so.%s" % (lib, ver)
    assert os.readlink(dev_link) == "lib%s.so.%s" % (lib, SOVERSION)
    out = subprocess.run(["readelf", "-d", real], capture_output=True, text=True, check=True).stdout
    assert "Library soname: [lib%s.so.%s]" % (lib, SOVERSION) in out


@pytest.mark.parametrize("pkg", ["sealdb", "sealdb-client"])
def test_pc_files_name_the_install_prefix(staged, pkg):
    pc = staged.path("lib/pkgconfig/%s.pc" % pkg)
    with open(pc) as f:
        text = f.read()
    assert re.search(r"^prefix=%s$" % re.escape(PREFIX), text, re.M), text
    assert staged.stage not in text and "@" not in text
    assert staged.pkg_config("--modversion", pkg) == [header_version()]
    libs = staged.pkg_config("--libs", pkg)
    assert "-L" + staged.path("lib") in libs and "-l" + pkg in libs


def run_with_libdir(staged, argv, **kw):
    return subprocess.run(argv, env=clean_env(LD_LIBRARY_PATH=staged.path("lib")), capture_output=True,
                          text=True, **kw)


def test_embed_example_builds_and_runs_through_pkg_config(staged):
    exe = staged.cc("embed.c", "sealdb", os.path.join(staged.root, "embed"))
    # the program loads the installed libsealdb.so.0, found only through LD_LIBRARY_PATH
    ldd = run_with_libdir(staged, ["ldd", exe]).stdout
    assert re.search(r"libsealdb\.so\.%s => %s" % (SOVERSION, re.escape(staged.path("lib"))), ldd), ldd
    system_has_it = "libsealdb.so.0 " in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    if not system_has_it:
        r = subprocess.run([exe, os.path.join(staged.root, "db0")], env=clean_env(), capture_output=True, text=True)
        assert r.returncode != 0 and "libsealdb.so.0" in r.stderr
    r = run_with_libdir(staged, [exe, os.path.join(staged.root, "db")], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: hello, sealed world (tx 1, revision 1)" in r.stdout, r.stdout


def test_client_example_against_the_installed_server(staged, monkeypatch):
    exe = staged.cc("client.c", "sealdb-client", os.path.join(staged.root, "client"))
    ldd = run_with_libdir(staged, ["ldd", exe]).stdout
    assert re.search(r"libsealdb-client\.so\.%s => %s" % (SOVERSION, re.escape(staged.path("lib"))), ldd), ldd
    monkeypatch.setattr(sealdb_proc, "SEALDB_BIN", staged.path("bin/sealdb"))
    srv = sealdb_proc.SealdbServer(tempfile.mkdtemp(prefix="sealdb-e2e-", dir=staged.root))
    srv.start()
    try:
        r = run_with_libdir(staged, [exe, "127.0.0.1", str(srv.port)], timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "verified set greeting in tx 1" in r.stdout, r.stdout
        assert "verified get greeting: hello, sealed world (tx 1, proven)" in r.stdout, r.stdout
        c = srv.client()
        assert c.get(b"greeting").value == b"hello, sealed world"
        c.shutdown()
    finally:
        srv.stop()


def test_systemd_unit_verifies_and_matches_prefix(staged):
    unit = staged.path("lib/systemd/system/sealdb.service")
    with open(unit) as f:
        text = f.read()
    kv = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            kv.setdefault(k, []).append(v)
    exec_start = kv["ExecStart"][0].split()
    assert exec_start[0] == PREFIX + "/bin/sealdb"
    data_dir = exec_start[exec_start.index("--dir") + 1]
    assert kv["User"] == ["sealdb"] and kv["ProtectSystem"] == ["strict"]
    rw = kv["ReadWritePaths"][0].split()
    assert any(data_dir == p or data_dir.startswith(p.rstrip("/") + "/") for p in rw), (data_dir, rw)
    for k in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert kv[k] == ["yes"], k
    assert kv["CapabilityBoundingSet"] == [""]
    with open(staged.path("lib/sysusers.d/sealdb.conf")) as f:
        assert re.search(r"^u sealdb ", f.read(), re.M)
    # systemd-analyze checks the unit inside the staging root: directives, that ExecStart is an
    # executable there, and (through MANPATH) that Documentation=man:sealdb(1) is installed
    units = staged.path("lib/systemd/system")
    for name in os.listdir("/usr/lib/systemd/system"):
        if not os.path.lexists(os.path.join(units, name)):
            src = os.path.join("/usr/lib/systemd/system", name)
            if os.path.isfile(src) and not os.path.islink(src):
                shutil.copy(src, units)
    r = subprocess.run(["systemd-analyze", "--root=" + staged.stage, "verify", "sealdb.service"],
                       env=clean_env(MANPATH=staged.path("share/man"), SYSTEMD_LOG_COLOR="0"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_cdc_systemd_unit_verifies(staged):
    unit = staged.path("lib/systemd/system/sealdb-cdc.service")
    with open(unit) as f:
        text = f.read()
    assert "ExecStart=%s/bin/sealdb-cdc --config /etc/sealdb/cdc.conf" % PREFIX in text
    assert "\nUser=sealdb\n" in text and "\nProtectSystem=strict\n" in text
    units = staged.path("lib/systemd/system")
    for name in os.listdir("/usr/lib/systemd/system"):
        if not os.path.lexists(os.path.join(units, name)):
            src = os.path.join("/usr/lib/systemd/system", name)
            if os.path.isfile(src) and not os.path.islink(src):
                shutil.copy(src, units)
    r = subprocess.run(["systemd-analyze", "--root=" + staged.stage, "verify", "sealdb-cdc.service"],
                       env=clean_env(MANPATH=staged.path("share/man"), SYSTEMD_LOG_COLOR="0"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def help_flags(text):
    return sorted(set(re.findall(r"(?<![\w-])--([a-zA-Z][\w-]*)", text)))


@pytest.mark.parametrize("prog", ["sealdb", "seal", "sealdb-cdc"])
def test_man_page_covers_every_help_flag(staged, prog):
    r = run_with_libdir(staged, [staged.path("bin/" + prog), "--help"], timeout=60)
    assert r.returncode == 0
    flags = help_flags(r.stdout + r.stderr)
    assert len(flags) > 10
    with open(staged.path("share/man/man1/%s.1" % prog)) as f:
        page = f.read().replace("\\-", "-")
    missing = [f for f in flags if "--" + f not in page]
    assert not missing, "%s.1 lacks %s" % (prog, missing)
    w = subprocess.run(["man", "--warnings", "-l", staged.path("share/man/man1/%s.1" % prog)],
                       env=clean_env(MANWIDTH="80"), capture_output=True, text=True, timeout=60)
    assert w.returncode == 0 and not w.stderr.strip(), w.stderr
    assert "seal" in w.stdout and "SEE ALSO" in w.stdout


def test_readme_points_to_the_examples():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert "examples/embed.c" in text and "examples/client.c" in text
    assert "pkg-config --cflags --libs sealdb" in text and "pkg-config --cflags --libs sealdb-client" in text
