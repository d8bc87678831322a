"""The judge of zmqzab's ZooKeeper API: kazoo 2.11.0's own test suite, unchanged, against a
3-node zmqzab cluster and against Debian's ZooKeeper 3.8 (issue 13, "The judge").

plugin.py puts kazoo's ZooKeeper launcher back with zmqzab nodes; selection.py applies
deselect.txt (what is out of scope, each with its reason) to both systems; run.py makes the
venv kazoo's tests need and runs one system. bench/kazoo_judge compares the two systems;
tests/processes/test_kazoo_judge_processes.py runs the CI subset (the recipes and test_client).
Here, under tests/processes, because these start processes (tests/conftest.py).
"""
