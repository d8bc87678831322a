// Curator's recipes against a ZooKeeper-protocol cluster, unchanged (issue 13): InterProcessMutex
// held by one client and refused to another until released; LeaderLatch with two participants,
// exactly one leader, and leadership passing when the leader's client closes its session (its
// ephemeral latch node must go with the session); a transaction (multi with check, create,
// setData) that commits whole or, when its check fails, not at all; PersistentWatcher (addWatch
// PERSISTENT_RECURSIVE) seeing changes below its path. Prints one PASS/FAIL line per check, and the
// exception of a failure (Curator names the KeeperException and the path); exit 1 on any FAIL.
//
// Compiled by run.sh with javac at run time against Debian's jars (libcurator-recipes-java):
//   java -cp /tmp/...:/usr/share/java/curator-recipes.jar:... CuratorCheck host:port,host:port
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.watch.PersistentWatcher;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;

public class CuratorCheck {
    static int failures = 0;

    interface Check {
        String run() throws Exception;  // null: passed; else what was wrong
    }

    static void check(String name, Check body) {
        String problem;
        try {
            problem = body.run();
        } catch (Exception e) {
            problem = e.toString();
        }
        if (problem == null) {
            System.out.println("PASS curator " + name);
        } else {
            failures++;
            System.out.println("FAIL curator " + name + ": " + problem);
        }
        System.out.flush();
    }

    static CuratorFramework client(String connect) throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(10000)
                .connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(20, 500))
                .build();
        c.start();
        if (!c.blockUntilConnected(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected to " + connect + " within 30 s");
        }
        return c;
    }

    /** Polls until the condition holds or the deadline passes (no fixed waits). */
    static boolean waitFor(java.util.function.BooleanSupplier condition, long timeoutMs)
            throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return condition.getAsBoolean();
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String root = args.length > 1 ? args[1] : "/curator-check";
        CuratorFramework c1 = client(connect);
        CuratorFramework c2 = client(connect);

        check("InterProcessMutex: one holder, the other waits until release", () -> {
            InterProcessMutex m1 = new InterProcessMutex(c1, root + "/lock");
            InterProcessMutex m2 = new InterProcessMutex(c2, root + "/lock");
            if (!m1.acquire(20, TimeUnit.SECONDS)) {
                return "client 1 could not acquire a free lock";
            }
            if (m2.acquire(1, TimeUnit.SECONDS)) {
                return "client 2 acquired the lock while client 1 held it";
            }
            m1.release();
            if (!m2.acquire(20, TimeUnit.SECONDS)) {
                return "client 2 did not get the lock after client 1 released it";
            }
            boolean mine = m2.isAcquiredInThisProcess();
            m2.release();
            if (!mine) {
                return "client 2 acquired but isAcquiredInThisProcess is false";
            }
            return c1.getChildren().forPath(root + "/lock").isEmpty() ? null
                    : "lock nodes left after both released: " + c1.getChildren().forPath(root + "/lock");
        });

        check("LeaderLatch: two participants, one leader, leadership passes when it closes", () -> {
            LeaderLatch l1 = new LeaderLatch(c1, root + "/latch", "p1");
            LeaderLatch l2 = new LeaderLatch(c2, root + "/latch", "p2");
            l1.start();
            l2.start();
            if (!waitFor(() -> l1.hasLeadership() || l2.hasLeadership(), 30000)) {
                return "no leader within 30 s";
            }
            if (l1.hasLeadership() && l2.hasLeadership()) {
                return "both participants are leaders";
            }
            LeaderLatch leader = l1.hasLeadership() ? l1 : l2;
            LeaderLatch other = leader == l1 ? l2 : l1;
            CuratorFramework leaderClient = leader == l1 ? c1 : c2;
            String leaderId = leader.getLeader().getId();
            if (!leaderId.equals(leader.getId())) {
                return "getLeader() says " + leaderId + ", the leader is " + leader.getId();
            }
            // The leader's client closes its session: its ephemeral latch node goes with it
            // (closeSession), and the other participant's watch on it fires.
            leaderClient.close();
            if (!other.await(30, TimeUnit.SECONDS)) {
                return "leadership did not pass to " + other.getId() + " within 30 s of "
                        + leader.getId() + "'s session close";
            }
            String now = other.getLeader().getId();
            other.close();
            return now.equals(other.getId()) ? null : "getLeader() says " + now;
        });

        CuratorFramework c3 = client(connect);
        check("transaction (multi): check + create + setData commit together", () -> {
            String t = root + "/txn";
            c3.create().creatingParentContainersIfNeeded().forPath(t, "0".getBytes());
            List<CuratorTransactionResult> results = c3.transaction().forOperations(
                    c3.transactionOp().check().withVersion(0).forPath(t),
                    c3.transactionOp().create().forPath(t + "/a", "a".getBytes()),
                    c3.transactionOp().setData().forPath(t, "1".getBytes()));
            if (results.size() != 3) {
                return results.size() + " results for 3 ops";
            }
            String data = new String(c3.getData().forPath(t));
            return data.equals("1") && c3.checkExists().forPath(t + "/a") != null ? null
                    : "after the commit: data " + data + ", child " + c3.checkExists().forPath(t + "/a");
        });

        check("transaction (multi): a failed check aborts every op (BADVERSION, nothing done)", () -> {
            String t = root + "/txn";
            try {
                c3.transaction().forOperations(
                        c3.transactionOp().create().forPath(t + "/b", "b".getBytes()),
                        c3.transactionOp().check().withVersion(99).forPath(t),
                        c3.transactionOp().setData().forPath(t, "2".getBytes()));
                return "the transaction committed although its check was wrong";
            } catch (KeeperException.BadVersionException expected) {
                // the check's error, as ZooKeeper reports a multi that failed on its second op
            }
            String data = new String(c3.getData().forPath(t));
            return data.equals("1") && c3.checkExists().forPath(t + "/b") == null ? null
                    : "after the abort: data " + data + ", child b " + c3.checkExists().forPath(t + "/b");
        });

        check("PersistentWatcher (addWatch recursive): events for a create and a set below it", () -> {
            String w = root + "/watched";
            c3.create().creatingParentContainersIfNeeded().forPath(w);
            LinkedBlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
            LinkedBlockingQueue<Boolean> set = new LinkedBlockingQueue<>();
            PersistentWatcher watcher = new PersistentWatcher(c3, w, true);
            watcher.getListenable().addListener(events::add);
            watcher.getResetListenable().addListener(() -> set.add(true));
            watcher.start();
            try {
                if (set.poll(30, TimeUnit.SECONDS) == null) {
                    return "the watch was not set within 30 s (addWatch)";
                }
                c3.create().forPath(w + "/x", "0".getBytes());
                c3.setData().forPath(w + "/x", "1".getBytes());
                StringBuilder seen = new StringBuilder();
                for (String wanted : new String[] {"NodeCreated " + w + "/x", "NodeDataChanged " + w + "/x"}) {
                    WatchedEvent e = events.poll(30, TimeUnit.SECONDS);
                    String got = e == null ? "nothing" : e.getType() + " " + e.getPath();
                    seen.append(got).append("; ");
                    if (!got.equals(wanted)) {
                        return "wanted " + wanted + ", got " + seen;
                    }
                }
                return null;
            } finally {
                watcher.close();
            }
        });

        for (CuratorFramework c : new CuratorFramework[] {c1, c2, c3}) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closed already (the LeaderLatch check closes the leader's client)
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
