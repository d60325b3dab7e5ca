# test_console_browser.py - the web console in a real headless Chromium (Debian's chromium + chromium-driver,
# driven by Selenium) against the real sealdb: log in, write through the console, browse keys, a key's
# history, a tx, the signed state, databases and users, every item marked verified by the browser's own
# proofs; then a value flipped in the journal of the stopped server (checksums resealed, as an attacker
# would) is shown failed, in red, with the value not shown as trusted; the metrics tab's live charts follow
# writes and reads made by another client. Screenshots of each page go to
# build/screenshots (docs/img/ holds copies shown in docs/console.md). Without chromium these tests fail.
import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_cli_tamper import tamper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = os.path.join(ROOT, "build", "screenshots")


@pytest.fixture
def browser():
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), \
        "the browser tests need Debian's chromium and chromium-driver (scripts/install-deps.sh --test)"
    o = Options()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1100,800", "--disable-extensions", "--no-first-run"):
        o.add_argument(a)   # --no-sandbox: chromium refuses to run as root with its sandbox
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(30)
    os.makedirs(SHOTS, exist_ok=True)
    yield d
    d.quit()


@pytest.fixture
def signed(sealdb_factory, tmp_path):
    key = tmp_path / "signing.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    return sealdb_factory(["--signingKey", str(key)])


def wait(d, fn, what, timeout=20):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda _: fn())
    except TimeoutException:
        raise AssertionError("timed out waiting for %s; #msg=%r" % (what, d.find_element(By.ID, "msg").text))


def shot(d, name):
    d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def login(d, srv):
    d.get("http://127.0.0.1:%d/" % srv.web_port)
    f = d.find_element(By.ID, "loginform")
    f.find_element(By.NAME, "password").send_keys("immudb")
    f.find_element(By.TAG_NAME, "button").click()
    wait(d, lambda: d.find_element(By.ID, "app").is_displayed(), "the app after log in")


def reopen(d, srv):
    """Reloads the console after a restart; logs in again when the server no longer knows the token."""
    d.get("http://127.0.0.1:%d/" % srv.web_port)
    # the stored token is tried first: a server that refuses it shows the login form again
    wait(d, lambda: d.find_element(By.TAG_NAME, "body").get_attribute("data-started") == "1", "the console's start")
    if d.find_element(By.ID, "login").is_displayed():
        login(d, srv)


def tab(d, name):
    d.find_element(By.CSS_SELECTOR, 'nav button[data-tab="%s"]' % name).click()


def set_key(d, key, value):
    f = d.find_element(By.ID, "setform")
    for n, v in (("key", key), ("value", value)):
        e = f.find_element(By.NAME, n)
        e.clear()
        e.send_keys(v)
    f.find_element(By.TAG_NAME, "button").click()
    wait(d, lambda: "written in tx" in d.find_element(By.ID, "msg").text, "the write of " + key)


def marks(d, where):
    """(verified, failed) marks inside the element with id where."""
    el = d.find_element(By.ID, where)
    return (len(el.find_elements(By.CSS_SELECTOR, ".ok")), len(el.find_elements(By.CSS_SELECTOR, ".bad")))


def get_key(d, key):
    tab(d, "key")
    f = d.find_element(By.ID, "keyform")
    e = f.find_element(By.NAME, "key")
    e.clear()
    e.send_keys(key)
    f.find_element(By.TAG_NAME, "button").click()


def test_console_writes_browses_and_verifies(browser, signed):
    d = browser
    d.get("http://127.0.0.1:%d/" % signed.web_port)
    shot(d, "login")
    login(d, signed)
    for k, v in (("alice", "apples"), ("bob", "bananas"), ("carol", "cherries"), ("alice", "apricots")):
        set_key(d, k, v)
    wait(d, lambda: marks(d, "keyrows") == (3, 0), "3 verified rows")
    rows = d.find_elements(By.CSS_SELECTOR, "#keyrows tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == ["alice", "bob", "carol"]
    assert "apricots" in rows[0].text and "verified" in rows[0].text
    shot(d, "keys")

    rows[0].click()   # a row opens its key: latest value and history, each proven
    wait(d, lambda: marks(d, "keyout") == (1, 0) and marks(d, "histrows") == (2, 0), "key and history marks")
    assert d.find_element(By.CSS_SELECTOR, "#keyout pre").text == "apricots"
    assert "signed" in d.find_element(By.CSS_SELECTOR, "#keyout small").text
    hist = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#histrows tr")]
    assert "apricots" in hist[0] and "apples" in hist[1]
    shot(d, "key")

    tab(d, "tx")
    f = d.find_element(By.ID, "txform")
    f.find_element(By.NAME, "tx").send_keys("1")
    f.find_element(By.TAG_NAME, "button").click()
    wait(d, lambda: marks(d, "txout") == (1, 0), "tx mark")
    assert "apples" in d.find_element(By.ID, "txout").text and "1 entries" in d.find_element(By.ID, "txout").text
    shot(d, "tx")

    tab(d, "state")
    wait(d, lambda: marks(d, "stateout") == (1, 0), "state mark")
    assert "signed" in d.find_element(By.CSS_SELECTOR, "#stateout small").text
    assert '"signature"' in d.find_element(By.ID, "stateout").text
    shot(d, "state")

    tab(d, "dbs")
    f = d.find_element(By.ID, "dbform")
    f.find_element(By.NAME, "name").send_keys("shop")
    f.find_element(By.TAG_NAME, "button").click()
    wait(d, lambda: "shop" in d.find_element(By.ID, "dbrows").text, "the new database")
    shot(d, "databases")

    tab(d, "users")
    wait(d, lambda: "immudb" in d.find_element(By.ID, "userrows").text, "the user list")
    shot(d, "users")

    # the trusted state the browser keeps is the server's last tx, per server and database
    trusted = "return JSON.parse(localStorage.getItem('sealdb.trusted.' + location.host + '/' + arguments[0]))"
    st = d.execute_script(trusted, "defaultdb")
    assert st["txId"] == 4 and st["pubKey"]   # four writes
    Select(d.find_element(By.ID, "db")).select_by_visible_text("shop")
    tab(d, "keys")
    set_key(d, "dave", "dates")
    wait(d, lambda: marks(d, "keyrows") == (1, 0), "the row written in shop")
    assert d.execute_script(trusted, "shop")["txId"] == 1
    assert d.execute_script(trusted, "defaultdb") == st

    # a key that is not UTF-8 (written by another client) is listed as base64 and proven as bytes
    c = signed.client()
    c.set(b"\xff\x00bin", b"binary key")
    Select(d.find_element(By.ID, "db")).select_by_visible_text("defaultdb")
    wait(d, lambda: marks(d, "keyrows") == (4, 0), "4 verified rows in defaultdb")
    row = [r for r in d.find_elements(By.CSS_SELECTOR, "#keyrows tr") if "base64:" in r.text][0]
    row.click()
    wait(d, lambda: marks(d, "keyout") == (1, 0) and marks(d, "histrows") == (1, 0), "the binary key proven")
    assert d.find_element(By.CSS_SELECTOR, "#keyout pre").text == "binary key"


def test_console_shows_tampering_in_red(browser, sealdb):
    d = browser
    login(d, sealdb)
    for k, v in (("alice", "original-value-1"), ("bob", "original-value-2"), ("carol", "original-value-3")):
        set_key(d, k, v)
    wait(d, lambda: marks(d, "keyrows") == (3, 0), "3 verified rows before tampering")
    sealdb.stop()
    assert tamper(sealdb.dir, b"original-value-2", replacement=b"FORGED-VALUE-XX2") > 0
    sealdb.start()
    reopen(d, sealdb)
    get_key(d, "bob")
    wait(d, lambda: marks(d, "keyout")[1] == 1, "a failed mark for the tampered key")
    bad = d.find_element(By.CSS_SELECTOR, "#keyout .bad")
    assert bad.text.startswith("✘ not trusted:") and len(bad.text) > len("✘ not trusted: ")
    assert bad.value_of_css_property("color") in ("rgba(204, 0, 0, 1)", "rgb(204, 0, 0)")
    assert d.find_elements(By.CSS_SELECTOR, "#keyout pre.bad-box"), "the value is framed as not trusted"
    assert not d.find_elements(By.CSS_SELECTOR, "#keyout pre.v")
    shot(d, "tampered")
    get_key(d, "alice")   # untouched keys still verify
    wait(d, lambda: marks(d, "keyout") == (1, 0), "alice still verified")


def test_console_catches_a_forked_history(browser, sealdb, sealdb_factory):
    """The data directory is swapped for another server's (every record genuine, so the server's own checks
    pass and it serves the forged values): only the browser's dual proof from its trusted state can tell."""
    d = browser
    login(d, sealdb)
    for k, v in (("alice", "original-value-1"), ("bob", "original-value-2"), ("carol", "original-value-3")):
        set_key(d, k, v)
    wait(d, lambda: marks(d, "keyrows") == (3, 0), "3 verified rows before the fork")
    key = "sealdb.trusted.127.0.0.1:%d/defaultdb" % sealdb.web_port
    before = d.execute_script("return localStorage.getItem(arguments[0])", key)
    other = sealdb_factory()
    c = other.client()
    for i in range(5):
        c.set(["alice", "bob", "carol"][i % 3].encode(), b"FORGED-%d" % i)
    other.stop()
    sealdb.stop()
    ident = os.path.join(sealdb.dir, "immudb.identifier")
    with open(ident, "rb") as f:
        server_id = f.read()
    shutil.rmtree(sealdb.dir)
    shutil.copytree(other.dir, sealdb.dir)
    with open(ident, "wb") as f:
        f.write(server_id)
    sealdb.start()
    reopen(d, sealdb)
    wait(d, lambda: marks(d, "keyrows") == (0, 3), "3 failed rows after the fork")
    for r in d.find_elements(By.CSS_SELECTOR, "#keyrows tr"):
        assert "dual proof" in r.find_element(By.CSS_SELECTOR, ".bad").text
        assert r.find_element(By.CSS_SELECTOR, "td.untrusted").text.startswith("FORGED")
    shot(d, "forked")
    get_key(d, "bob")
    wait(d, lambda: marks(d, "keyout")[1] == 1, "a failed mark for the forged value")
    assert d.find_element(By.CSS_SELECTOR, "#keyout pre.bad-box").text.startswith("FORGED")
    tab(d, "state")
    wait(d, lambda: marks(d, "stateout") == (0, 1), "the forged state failing")
    assert d.execute_script("return localStorage.getItem(arguments[0])", key) == before, "trusted state kept"


def chart(d, name, attr):
    v = d.find_element(By.ID, "chart-" + name).get_attribute("data-" + attr)
    return float(v) if v else None


def rest(srv, path, body, token=None):
    """A REST call with a token of immudb on defaultdb (logged in first when none is given)."""
    if token is None:
        token = rest(srv, "/api/login", {"user": "aW1tdWRi", "password": "aW1tdWRi"}, "")["token"]
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (srv.web_port, path), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + token} if token else {})})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def test_console_metrics_charts(browser, sealdb):
    """The metrics tab charts writes/s, reads/s and latency from the server's /metrics: writes and reads
    made by another client while it is open show up in the charts and their printed values."""
    d = browser
    login(d, sealdb)
    tab(d, "metrics")
    wait(d, lambda: chart(d, "writes", "total") is not None, "the first scrape")
    wait(d, lambda: chart(d, "writes", "peak") is not None, "the first rates")
    assert chart(d, "writes", "peak") == 0 and chart(d, "reads", "value") == 0   # nothing written yet
    writes0, reads0 = chart(d, "writes", "total"), chart(d, "reads", "total")
    c = sealdb.client()
    n = 40
    for i in range(n):   # spread over ~2 s so that several scrapes see writes
        c.set(b"k%03d" % i, b"value %d" % i)
        time.sleep(0.05)
    wait(d, lambda: chart(d, "writes", "total") >= writes0 + n, "the writes counted")
    wait(d, lambda: chart(d, "writes", "peak") > 0, "writes/s above 0")
    assert chart(d, "latency", "peak") > 0
    printed = d.find_element(By.CSS_SELECTOR, "#chart-writes .val").text
    assert printed.endswith("/s") and printed != "–"
    assert chart(d, "reads", "total") == reads0, "writes are not counted as reads"
    # writes through the REST API count the same
    before = chart(d, "writes", "total")
    for i in range(5):
        rest(sealdb, "/api/db/set", {"KVs": [{"key": base64.b64encode(b"r%d" % i).decode(), "value": "eA=="}]})
    wait(d, lambda: chart(d, "writes", "total") >= before + 5, "the REST writes counted")
    for i in range(n):
        assert c.get(b"k%03d" % i).value == b"value %d" % i
        time.sleep(0.05)
    wait(d, lambda: chart(d, "reads", "total") >= reads0 + n, "the reads counted")
    wait(d, lambda: chart(d, "reads", "peak") > 0, "reads/s above 0")
    assert "p95" in d.find_element(By.CSS_SELECTOR, "#chart-latency .sub").text
    assert d.find_element(By.ID, "metricsnote").text == ""
    # a few seconds of mixed load for the screenshot, taken while it runs
    end = time.time() + 5
    i = 0
    while time.time() < end:
        c.set(b"load%d" % (i % 50), b"x" * 100)
        c.get(b"k%03d" % (i % n))
        c.get(b"k%03d" % ((i + 1) % n))
        i += 1
        time.sleep(0.02 if i % 40 < 20 else 0.005)
    assert chart(d, "writes", "value") > 0 and chart(d, "reads", "value") > 0
    shot(d, "metrics")
    # leaving the tab stops the scrapes
    tab(d, "keys")
    total = chart(d, "writes", "total")
    c.set(b"after", b"x")
    time.sleep(2.5)
    assert chart(d, "writes", "total") == total


def test_console_metrics_off(browser, sealdb_factory):
    """--metrics-server=false: no /metrics on the web port either, and the tab says why."""
    srv = sealdb_factory(["--metrics-server=false"])
    d = browser
    login(d, srv)
    tab(d, "metrics")
    wait(d, lambda: "--metrics-server=false" in d.find_element(By.ID, "metricsnote").text, "the metrics-off note")
    assert chart(d, "writes", "total") is None


def test_console_metrics_without_histograms(browser, sealdb_factory):
    """--no-histograms: rates still charted, latency shown as absent with the reason."""
    srv = sealdb_factory(["--no-histograms"])
    d = browser
    login(d, srv)
    tab(d, "metrics")
    wait(d, lambda: "--no-histograms" in d.find_element(By.ID, "metricsnote").text, "the no-histograms note")
    c = srv.client()
    for i in range(10):
        c.set(b"k%d" % i, b"v")
        time.sleep(0.05)
    wait(d, lambda: (chart(d, "writes", "peak") or 0) > 0, "writes/s above 0")
    assert chart(d, "latency", "peak") == 0 and d.find_element(By.CSS_SELECTOR, "#chart-latency .val").text == "–"
