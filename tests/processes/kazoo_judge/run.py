"""Running kazoo's test suite as a judge: the venv it needs, one run against one system, its
junit xml read back. Used by bench/kazoo_judge (both systems, the differences) and by
tests/processes/test_kazoo_judge_processes.py (the CI subset against zmqzab).

kazoo 2.11.0's tests need more than the project's test extras: pytest-timeout, and for its
harness module (imported by every test) pyOpenSSL and pyjks, which it uses to make TLS
certificates even when no TLS test runs; kazoo 2.11's harness calls pyOpenSSL X509 APIs that
pyOpenSSL 24.3 removed, hence the pins. They live in their own venv (``VENV``), not in the
project's environment; the repository root goes first on PYTHONPATH, so the venv's pytest and
the zmqzab nodes it starts import this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENV = Path(os.environ.get("KAZOO_JUDGE_VENV", "/tmp/zmqzab-kazoo-venv"))
PLUGIN = "tests.processes.kazoo_judge.plugin"
SELECTION = "tests.processes.kazoo_judge.selection"
#: What kazoo's tests import beyond kazoo itself (kazoo's own CI installs the same).
JUDGE_REQUIREMENTS = ("kazoo==2.11.0", "pytest>=8", "pytest-timeout", "pyjks", "pyOpenSSL<24.3",
                      "cryptography<44", "objgraph", "gevent", "eventlet")
#: The modules the CI subset runs: the recipes and test_client (issue 13, "The judge").
SUBSET = tuple(f"kazoo.tests.test_{m}" for m in (
    "lock", "election", "barrier", "queue", "counter", "party", "partitioner", "lease",
    "watchers", "cache", "client"))
#: One test's limit, as kazoo's own CI and the peers' kazoo_suite.sh use.
TEST_TIMEOUT_S = 180
#: Debian's ZooKeeper jars (the peers' kazoo_suite.sh starts ZooKeeper from the same list).
ZK_JARS = ("zookeeper", "zookeeper-jute", "slf4j-api", "slf4j-log4j12", "log4j-1.2", "netty-handler",
           "netty-transport", "netty-common", "netty-buffer", "netty-codec", "netty-resolver",
           "netty-transport-native-epoll", "netty-transport-native-unix-common", "commons-cli",
           "jackson-databind", "jackson-core", "jackson-annotations", "metrics-core", "snappy-java",
           "commons-io")
JAVA_DIR = Path("/usr/share/java")


def requirements() -> list[str]:
    """The judge's requirements and the project's own dependencies (what the nodes import)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [*JUDGE_REQUIREMENTS, *project]


def _stamp(venv: Path) -> Path:
    return venv / "zmqzab-kazoo-judge.json"


def venv_ready(venv: Path = VENV) -> bool:
    """The venv exists and holds what ``requirements()`` asks today."""
    try:
        return json.loads(_stamp(venv).read_text()) == requirements()
    except (OSError, ValueError):
        return False


def ensure_venv(venv: Path = VENV, quiet: bool = True) -> Path:
    """Make (or bring up to date) the judge's venv; its python."""
    if not venv_ready(venv):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", *(["-q"] if quiet else []),
                        *requirements()], check=True)
        _stamp(venv).write_text(json.dumps(requirements()))
    return venv / "bin" / "python"


def site_packages(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def zookeeper_env() -> dict[str, str] | None:
    """ZOOKEEPER_CLASSPATH and ZOOKEEPER_VERSION for kazoo's own harness, from Debian's
    `zookeeper` package; None without it (or without java)."""
    if not (JAVA_DIR / "zookeeper.jar").exists() or not any(
            (Path(d) / "java").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        return None
    jars = [str(JAVA_DIR / f"{j}.jar") for j in ZK_JARS if (JAVA_DIR / f"{j}.jar").exists()]
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"],
                             capture_output=True, text=True).stdout.strip() or "3.8.0"
    return {"ZOOKEEPER_CLASSPATH": os.pathsep.join(jars), "ZOOKEEPER_VERSION": version.split("-")[0]}


@dataclass(frozen=True)
class Outcome:
    state: str  # "passed", "failed", "error", "skipped"; "flaky": failed, then passed on a rerun
    message: str  # first line of the failure, error or skip message


def run_suite(system: str, targets: list[str], junit: Path, python: Path, extra: list[str] = (),
              timeout_s: float | None = None, log: Path | None = None, pyargs: bool = True) -> int:
    """kazoo's tests ``targets`` (modules with ``pyargs``, else test paths) against ``system``
    ("zmqzab" or "zookeeper"), results in ``junit``; pytest's exit code. Runs in a temp dir, so
    that neither this project's pytest settings nor its conftest apply: kazoo's tests run as
    kazoo's CI runs them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOKEEPER_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    plugins = ["-p", SELECTION]
    if system == "zmqzab":
        plugins += ["-p", PLUGIN]
    elif system == "zookeeper":
        zk = zookeeper_env()
        if zk is None:
            raise RuntimeError("Debian's ZooKeeper is not installed here (/usr/share/java/zookeeper.jar "
                               "and java): apt-get install zookeeper, or run --only zmqzab")
        env.update(zk)
    else:
        raise ValueError(f"unknown system {system!r}: zmqzab or zookeeper")
    cmd = [str(python), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "--timeout", str(TEST_TIMEOUT_S),
           "--rootdir", site_packages(python), "--junitxml", str(junit), *plugins, *extra,
           *(["--pyargs"] if pyargs else []), *targets]
    with tempfile.TemporaryDirectory(prefix=f"kazoo-judge-{system}-") as cwd:
        out = open(log, "w") if log else None
        try:
            return subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                  timeout=timeout_s).returncode
        finally:
            if out:
                out.close()


def read_junit(path: Path) -> dict[str, Outcome]:
    """Each test's outcome, by ``kazoo.tests.<module>.<Class>.<test>``; a test with both a
    failure and a teardown error counts as failed."""
    outcomes: dict[str, Outcome] = {}
    rank = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}
    for case in ET.parse(path).getroot().iter("testcase"):
        tid = f"{case.get('classname')}.{case.get('name')}"
        state, message = "passed", ""
        for child in case:
            tag = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(child.tag)
            if tag and rank[tag] > rank[state]:
                state = tag
                message = (child.get("message") or child.text or "").strip().splitlines()[0:1]
                message = message[0] if message else ""
        if tid not in outcomes or rank[state] > rank[outcomes[tid].state]:
            outcomes[tid] = Outcome(state, message)
    return outcomes


def test_path(test_id: str, python: Path) -> str:
    """``kazoo.tests.test_client.TestClient.test_x`` as a path pytest takes."""
    base, bracket, params = test_id.partition("[")  # a parameter may hold dots
    parts = base.split(".")
    at = max(i for i, p in enumerate(parts) if p.startswith("test_") and i < len(parts) - 1)
    module = Path(site_packages(python), *parts[:at + 1]).with_suffix(".py")
    return "::".join([str(module), *parts[at + 1:]]) + bracket + params


def rerun_failed(system: str, outcomes: dict[str, Outcome], python: Path, junit: Path,
                 extra: list[str] = (), timeout_s: float | None = None, log: Path | None = None) -> dict[str, Outcome]:
    """The failed tests run once more, by themselves (a new cluster for zmqzab); one that
    passes then is "flaky". kazoo's tests wait for fixed times (a reconnect in 5 s, a queue get
    in 0.1 s), which a loaded machine misses now and then, on either system."""
    failed = sorted(t for t, o in outcomes.items() if o.state in ("failed", "error"))
    if not failed:
        return outcomes
    run_suite(system, [test_path(t, python) for t in failed], junit, python, extra, timeout_s, log, pyargs=False)
    again = read_junit(junit) if junit.exists() else {}
    merged = dict(outcomes)
    for t in failed:
        if t in again and again[t].state == "passed":
            merged[t] = Outcome("flaky", outcomes[t].message)
    return merged


def counts(outcomes: dict[str, Outcome]) -> dict[str, int]:
    got = {"passed": 0, "flaky": 0, "failed": 0, "error": 0, "skipped": 0}
    for o in outcomes.values():
        got[o.state] += 1
    return got
