// Curator's recipes against a ZooKeeper-protocol cluster, unchanged (issue 13): InterProcessMutex
// held by one client and refused to another until released; LeaderLatch with two participants,
// exactly one leader, and leadership passing when the leader's client closes its session (its
// ephemeral latch node must go with the session). Prints one PASS/FAIL line per check, and the
// exception of a failure (Curator names the KeeperException and the path); exit 1 on any FAIL.
//
// Compiled by run.sh with javac at run time against Debian's jars (libcurator-recipes-java):
//   java -cp /tmp/...:/usr/share/java/curator-recipes.jar:... CuratorCheck host:port,host:port
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;

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

        for (CuratorFramework c : new CuratorFramework[] {c1, c2}) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closed already (the LeaderLatch check closes the leader's client)
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
