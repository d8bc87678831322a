"""Outside attack on issue 17 (h17a): the controls' cookie IS the run's secret, and a browser
sends a 127.0.0.1 cookie to every port of 127.0.0.1.

Cookies are scoped by host, never by port (RFC 6265 §8.5), and SameSite compares sites, which
ignore ports too: a page on http://127.0.0.1:P2 is same-site with the controls on :7400. So
after the owner opened the address `zmqzab up` printed (``/login?secret=S`` sets
``zmqzab_up_7400=S``), ANY server on 127.0.0.1 that the owner's browser then visits (another
local user's on a shared lab machine, a notebook server, a dev server; reached by a link, or
by one same-site navigation of its own page) receives ``Cookie: zmqzab_up_7400=S`` in its
request head. HttpOnly only hides it from scripts, not from the server it is sent to. With S,
that user's own process passes the secret check of every control (X-Zmqzab-Secret: S) and can
crash, pause or partition the owner's cluster: exactly what the 0600 file was for.

Property broken: what the browser holds for the controls opens nothing when presented by
another port's server (issue 17: "Any local user or process can also crash, pause or restart
the owner's nodes").

Fixed as proposed: no cookie carries the secret. The printed address carries it in the URL fragment
(``http://127.0.0.1:7400/#secret=S``: a fragment is never sent to any server); the page moves
it to ``sessionStorage`` (scoped by origin, port included) and clears the fragment with
``history.replaceState``; every control request sends it in X-Zmqzab-Secret as now; /login and
/control/secret go. (A cookie holding a one-time or derived value does not help: whatever the
browser sends to other ports, their server can replay from a plain process.)
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zmqzab.security.runsecret import SECRET_HEADER
from zmqzab.up.control import page_address, start_control_http

from tests.unit.test_web_security import StandInSupervisor, post_crash

pytestmark = [pytest.mark.web, pytest.mark.security]


class _OtherUsersServer(BaseHTTPRequestHandler):
    """Another local user's web server on 127.0.0.1: its page navigates once to itself (a
    same-site navigation) and it records every Cookie header it is sent."""

    cookies: list[str] = []

    def do_GET(self) -> None:
        self.cookies.append(self.headers.get("Cookie") or "")
        body = (b"<html><body><script>if (location.pathname === '/') location = '/again';"
                b"</script>other user's page</body></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        pass


@pytest.fixture
def controls_and_other_port(tmp_path):
    sup = StandInSupervisor(tmp_path)
    server = start_control_http(sup, "127.0.0.1", 0)
    sup.control_url = f"http://127.0.0.1:{server.server_address[1]}"
    _OtherUsersServer.cookies = []
    other = ThreadingHTTPServer(("127.0.0.1", 0), _OtherUsersServer)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    yield sup, server, other
    other.shutdown()
    other.server_close()
    server.shutdown()
    server.server_close()


def test_browser_another_port_of_127_0_0_1_never_gets_what_opens_the_controls(
        controls_and_other_port, page):
    """Setup: the controls (real handler, stand-in supervisor) and another local user's web
    server on another port of 127.0.0.1. Steps: the owner opens the printed /login address;
    later visits the other server's page (it navigates once to itself). That server's user
    then tries every cookie value it was sent as X-Zmqzab-Secret on POST /control/crash from a
    plain process. Expected: no crash is carried out."""
    sup, server, other = controls_and_other_port
    page.goto(page_address(sup.control_url, sup.config, sup.secret))
    page.wait_for_function("!document.getElementById('controls').hidden", timeout=15_000)
    assert sup.secret not in page.url
    page.goto(f"{sup.control_url}/login?secret={sup.secret}")  # the older address: the same
    page.wait_for_function("!document.getElementById('controls').hidden", timeout=15_000)
    assert sup.secret not in page.url
    other_url = f"http://127.0.0.1:{other.server_address[1]}/"
    page.goto(other_url)
    page.wait_for_url(other_url + "again", timeout=10_000)
    sent = [c for c in _OtherUsersServer.cookies if c]
    for header in sent:
        for pair in header.split(";"):
            _, _, value = pair.strip().partition("=")
            if value:
                post_crash(server, {SECRET_HEADER: value})
    assert sup.done == [], (f"the other port's server was sent {sent!r} and crashed node 0 with "
                            f"it: {sup.done!r}")
