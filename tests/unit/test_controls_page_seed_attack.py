"""Outside attack on issue 17 (h17a), the unit half of tests/browser/test_page_xss_controls_attack:
the controls serve their page only with ``?node=`` values that are the cluster's own node URLs
(the page runs on the controls' origin and renders what its nodes say)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.unit.test_web_security import ask, controls  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.security, pytest.mark.web]


def test_the_controls_page_reads_only_the_clusters_own_nodes(controls):  # noqa: F811
    sup, server = controls
    node = sup.config.http_url(sup.config.nodes[0])
    port = node.rsplit(":", 1)[1]
    for seed in (node, node + "/", f"http://localhost:{port}"):
        code, _, body = ask(server, "GET", "/?node=" + quote(seed, safe=":/"))
        assert code == 200 and b"findControls" in body, seed
    for query in ("node=" + quote("https://evil.example", safe=":/"),
                  "node=" + quote("https://evil.example", safe=":/") + "&node=" + quote(node, safe=":/"),
                  "node=" + quote(node, safe=":/") + "&node=" + quote("http://evil.example", safe=":/"),
                  "node=" + quote(node + " ", safe=":/"),
                  "node=", "nod%65=" + quote("https://evil.example", safe=":/")):
        code, hdrs, _ = ask(server, "GET", "/?" + query)
        assert code == 303 and hdrs["location"] == "/?node=" + quote(node, safe=":/"), query
