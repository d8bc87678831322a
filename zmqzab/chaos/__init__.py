"""`zmqzab chaos`: faults under load on real processes, and a checker for the history (Jepsen's
method: clients record every request and its outcome while a nemesis breaks the cluster; the
checker decides whether the history could have happened on one correct machine)."""
