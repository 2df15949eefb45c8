// Apache Curator's recipes (Debian's libcurator-*-java 5.4) against one
// ZooKeeper-protocol ensemble: ZooKeeper 3.8 or synod. Each recipe runs with
// several clients (Curator spreads them over the ensemble's servers) and
// checks what the recipe promises: mutual exclusion counted through a znode
// written without versions, one leader at a time, counters that add up,
// barriers that hold until they are released, caches that converge on the
// tree, a protected ephemeral that comes back after its session is expired
// by the server, all-or-nothing transactions.
//
//   java Recipes HOSTS ROUNDS [RECIPE...]
//
// Prints "recipe NAME round R ok (MS ms)" or "recipe NAME round R FAILED:
// WHY" per run and a summary line "curator: P passed, F failed"; exits 1 if
// any failed. Every wait has a deadline (a liveness failure is reported,
// never a hang); no check depends on how long something took.

import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.TreeCache;
import org.apache.curator.framework.recipes.cache.TreeCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class Recipes {
    static final long DEADLINE_MS = 30_000;
    static String hosts;
    static String root;

    /** A recipe's check failed: the message says what was seen. */
    static class Failed extends RuntimeException {
        Failed(String why) {
            super(why);
        }
    }

    static void check(boolean ok, String why) {
        if (!ok) throw new Failed(why);
    }

    interface Scenario {
        void run() throws Exception;
    }

    static final Map<String, Scenario> RECIPES = new LinkedHashMap<>();

    static {
        RECIPES.put("InterProcessMutex", Recipes::mutex);
        RECIPES.put("InterProcessReadWriteLock", Recipes::readWriteLock);
        RECIPES.put("InterProcessSemaphoreV2", Recipes::semaphore);
        RECIPES.put("LeaderLatch", Recipes::leaderLatch);
        RECIPES.put("LeaderSelector", Recipes::leaderSelector);
        RECIPES.put("DistributedAtomicLong", Recipes::atomicLong);
        RECIPES.put("SharedCount", Recipes::sharedCount);
        RECIPES.put("DistributedBarrier", Recipes::barrier);
        RECIPES.put("DistributedDoubleBarrier", Recipes::doubleBarrier);
        RECIPES.put("CuratorCache", Recipes::curatorCache);
        RECIPES.put("TreeCache", Recipes::treeCache);
        RECIPES.put("PersistentNode", Recipes::persistentNode);
        RECIPES.put("transactions", Recipes::transactions);
    }

    /** Run only when named: the mutex check with a lock that excludes
     *  nobody. It must fail, which shows the check can catch a broken lock. */
    static final Map<String, Scenario> SELF_TESTS = Map.of("BrokenMutex", Recipes::brokenMutex);

    public static void main(String[] args) throws Exception {
        hosts = args[0];
        int rounds = Integer.parseInt(args[1]);
        List<String> names = args.length > 2
            ? Arrays.asList(args).subList(2, args.length)
            : new ArrayList<>(RECIPES.keySet());
        int passed = 0, failed = 0;
        for (int round = 1; round <= rounds; round++) {
            for (String name : names) {
                Scenario s = RECIPES.getOrDefault(name, SELF_TESTS.get(name));
                if (s == null) throw new IllegalArgumentException("no recipe " + name);
                root = "/curator-" + name + "-" + round + "-" + System.nanoTime();
                long t0 = System.nanoTime();
                try {
                    s.run();
                    passed++;
                    System.out.printf("recipe %s round %d ok (%d ms)%n", name, round,
                        (System.nanoTime() - t0) / 1_000_000);
                } catch (Throwable e) {
                    failed++;
                    System.out.printf("recipe %s round %d FAILED: %s%n", name, round, e);
                    if (!(e instanceof Failed)) e.printStackTrace(System.out);
                }
                System.out.flush();
            }
        }
        System.out.printf("curator: %d passed, %d failed%n", passed, failed);
        System.exit(failed == 0 ? 0 : 1);
    }

    // ---- helpers ----

    static CuratorFramework client() throws InterruptedException {
        CuratorFramework c = CuratorFrameworkFactory.newClient(hosts, 10_000, 5_000,
            new RetryNTimes(20, 100));
        c.start();
        check(c.blockUntilConnected(10, TimeUnit.SECONDS), "no connection within 10 s");
        return c;
    }

    static List<CuratorFramework> clients(int n) throws InterruptedException {
        List<CuratorFramework> cs = new ArrayList<>();
        for (int i = 0; i < n; i++) cs.add(client());
        return cs;
    }

    static void closeAll(Collection<? extends AutoCloseable> cs) {
        for (AutoCloseable c : cs) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing is best effort: the check already ran
            }
        }
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** ZooKeeper's sync: `c`'s server catches up with the leader. */
    static void syncWith(CuratorFramework c, String path) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger rc = new AtomicInteger();
        c.getZookeeperClient().getZooKeeper().sync(path, (code, p, ctx) -> {
            rc.set(code);
            done.countDown();
        }, null);
        check(done.await(10, TimeUnit.SECONDS), "sync timed out");
        check(rc.get() == 0, "sync failed with " + KeeperException.Code.get(rc.get()));
    }

    static long readLong(CuratorFramework c, String path) throws Exception {
        return Long.parseLong(str(c.getData().forPath(path)));
    }

    /** Runs the tasks on their own threads; rethrows the first failure. */
    static void parallel(List<Callable<Void>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            List<Future<Void>> fs = new ArrayList<>();
            for (Callable<Void> t : tasks) fs.add(pool.submit(t));
            for (Future<Void> f : fs) {
                try {
                    f.get(DEADLINE_MS, TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (cause instanceof Exception) throw (Exception) cause;
                    throw new RuntimeException(cause);
                } catch (TimeoutException e) {
                    throw new Failed("a worker did not finish within " + DEADLINE_MS + " ms");
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    interface Condition {
        boolean holds() throws Exception;
    }

    static void waitFor(String what, Condition c) throws Exception {
        long end = System.currentTimeMillis() + DEADLINE_MS;
        while (!c.holds()) {
            if (System.currentTimeMillis() > end) throw new Failed("timed out waiting for " + what);
            Thread.sleep(20);
        }
    }

    /**
     * A read-modify-write of a counter znode without versions: it adds up
     * only if the caller holds exclusion, so a lock that lets two holders in
     * at once loses increments.
     */
    static void unguardedIncrement(CuratorFramework c, String path) throws Exception {
        long v = readLong(c, path);
        Thread.yield();
        c.setData().forPath(path, bytes(Long.toString(v + 1)));
    }

    // ---- the recipes ----

    static void mutex() throws Exception {
        mutexWith(InterProcessMutex::new);
    }

    static void brokenMutex() throws Exception {
        mutexWith((c, path) -> new InterProcessMutex(c, path) {
            @Override
            public boolean acquire(long time, TimeUnit unit) {
                return true;
            }

            @Override
            public void release() {
            }
        });
    }

    interface LockMaker {
        InterProcessMutex make(CuratorFramework c, String path);
    }

    static void mutexWith(LockMaker maker) throws Exception {
        List<CuratorFramework> cs = clients(3);
        try {
            String counter = root + "/counter";
            cs.get(0).create().creatingParentsIfNeeded().forPath(counter, bytes("0"));
            AtomicInteger inside = new AtomicInteger();
            AtomicInteger most = new AtomicInteger();
            int per = 8;
            List<Callable<Void>> tasks = new ArrayList<>();
            for (CuratorFramework c : cs) {
                for (int t = 0; t < 2; t++) {
                    tasks.add(() -> {
                        InterProcessMutex m = maker.make(c, root + "/lock");
                        for (int i = 0; i < per; i++) {
                            check(m.acquire(DEADLINE_MS, TimeUnit.MILLISECONDS), "acquire timed out");
                            try {
                                // Reentrant: the holder can take it again.
                                check(m.acquire(1, TimeUnit.SECONDS), "re-entry refused");
                                m.release();
                                most.accumulateAndGet(inside.incrementAndGet(), Math::max);
                                unguardedIncrement(c, counter);
                                inside.decrementAndGet();
                            } finally {
                                m.release();
                            }
                        }
                        return null;
                    });
                }
            }
            parallel(tasks);
            syncWith(cs.get(0), counter);
            long total = readLong(cs.get(0), counter);
            check(most.get() == 1, "holders at once: " + most.get());
            check(total == 6L * per, "counter " + total + ", expected " + 6 * per);
            if (cs.get(0).checkExists().forPath(root + "/lock") != null) {
                check(cs.get(0).getChildren().forPath(root + "/lock").isEmpty(), "lock nodes left behind");
            }
        } finally {
            closeAll(cs);
        }
    }

    static void readWriteLock() throws Exception {
        List<CuratorFramework> cs = clients(3);
        try {
            String counter = root + "/counter";
            cs.get(0).create().creatingParentsIfNeeded().forPath(counter, bytes("0"));
            AtomicInteger readers = new AtomicInteger();
            AtomicInteger writers = new AtomicInteger();
            AtomicInteger mostReaders = new AtomicInteger();
            AtomicReference<String> broken = new AtomicReference<>();
            int writes = 0;
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int i = 0; i < cs.size(); i++) {
                CuratorFramework c = cs.get(i);
                // One writer and one reader per client.
                tasks.add(() -> {
                    InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, root + "/rw");
                    for (int k = 0; k < 5; k++) {
                        check(rw.writeLock().acquire(DEADLINE_MS, TimeUnit.MILLISECONDS), "write lock timed out");
                        try {
                            if (writers.incrementAndGet() != 1 || readers.get() != 0) {
                                broken.set("writer with " + writers.get() + " writers, " + readers.get() + " readers");
                            }
                            unguardedIncrement(c, counter);
                            writers.decrementAndGet();
                        } finally {
                            rw.writeLock().release();
                        }
                    }
                    return null;
                });
                writes += 5;
                tasks.add(() -> {
                    InterProcessReadWriteLock rw = new InterProcessReadWriteLock(c, root + "/rw");
                    for (int k = 0; k < 5; k++) {
                        check(rw.readLock().acquire(DEADLINE_MS, TimeUnit.MILLISECONDS), "read lock timed out");
                        try {
                            mostReaders.accumulateAndGet(readers.incrementAndGet(), Math::max);
                            if (writers.get() != 0) broken.set("reader while a writer holds the lock");
                            readLong(c, counter);
                            readers.decrementAndGet();
                        } finally {
                            rw.readLock().release();
                        }
                    }
                    return null;
                });
            }
            parallel(tasks);
            check(broken.get() == null, String.valueOf(broken.get()));
            syncWith(cs.get(0), counter);
            long total = readLong(cs.get(0), counter);
            check(total == writes, "counter " + total + ", expected " + writes);
        } finally {
            closeAll(cs);
        }
    }

    static void semaphore() throws Exception {
        List<CuratorFramework> cs = clients(3);
        try {
            int leases = 2;
            AtomicInteger holding = new AtomicInteger();
            AtomicInteger most = new AtomicInteger();
            AtomicInteger done = new AtomicInteger();
            List<Callable<Void>> tasks = new ArrayList<>();
            for (CuratorFramework c : cs) {
                for (int t = 0; t < 2; t++) {
                    tasks.add(() -> {
                        InterProcessSemaphoreV2 s = new InterProcessSemaphoreV2(c, root + "/sem", leases);
                        for (int i = 0; i < 5; i++) {
                            Lease lease = s.acquire(DEADLINE_MS, TimeUnit.MILLISECONDS);
                            check(lease != null, "no lease within the deadline");
                            try {
                                most.accumulateAndGet(holding.incrementAndGet(), Math::max);
                                Thread.sleep(2);
                                holding.decrementAndGet();
                                done.incrementAndGet();
                            } finally {
                                s.returnLease(lease);
                            }
                        }
                        return null;
                    });
                }
            }
            parallel(tasks);
            check(most.get() <= leases, most.get() + " leases held at once, limit " + leases);
            check(done.get() == 30, done.get() + " leases taken, expected 30");
            // No lease left behind once everyone returned theirs.
            InterProcessSemaphoreV2 probe = new InterProcessSemaphoreV2(cs.get(0), root + "/sem", leases);
            Collection<Lease> all = probe.acquire(leases, 5, TimeUnit.SECONDS);
            check(all != null && all.size() == leases, "the released leases are not free again");
            probe.returnAll(all);
        } finally {
            closeAll(cs);
        }
    }

    static void leaderLatch() throws Exception {
        List<CuratorFramework> cs = clients(3);
        List<LeaderLatch> latches = new ArrayList<>();
        try {
            for (int i = 0; i < cs.size(); i++) {
                LeaderLatch l = new LeaderLatch(cs.get(i), root + "/latch", "p" + i);
                latches.add(l);
                l.start();
            }
            Set<String> leaders = new LinkedHashSet<>();
            List<Integer> open = new ArrayList<>(List.of(0, 1, 2));
            while (!open.isEmpty()) {
                waitFor("one leader among " + open.size(), () -> {
                    long n = open.stream().filter(i -> latches.get(i).hasLeadership()).count();
                    // A leader was closed before the rest were asked, so two
                    // at once can only be two leaders at once.
                    check(n <= 1, n + " latches lead at once");
                    return n == 1;
                });
                int leader = open.stream().filter(i -> latches.get(i).hasLeadership()).findFirst().get();
                String id = latches.get(leader).getId();
                // Everyone names the same leader once its server caught up.
                for (int i : open) {
                    syncWith(cs.get(i), root + "/latch");
                    String named = latches.get(i).getLeader().getId();
                    check(named.equals(id), latches.get(i).getId() + " names " + named + ", leader is " + id);
                }
                check(leaders.add(id), id + " led twice");
                open.remove(Integer.valueOf(leader));
                latches.get(leader).close();
                check(!latches.get(leader).hasLeadership(), "a closed latch still leads");
            }
            check(leaders.size() == 3, "leaders " + leaders);
        } finally {
            closeAll(latches);
            closeAll(cs);
        }
    }

    static void leaderSelector() throws Exception {
        List<CuratorFramework> cs = clients(3);
        List<LeaderSelector> selectors = new ArrayList<>();
        try {
            AtomicInteger leading = new AtomicInteger();
            AtomicInteger most = new AtomicInteger();
            AtomicInteger terms = new AtomicInteger();
            Map<String, Integer> led = new ConcurrentHashMap<>();
            CountDownLatch enough = new CountDownLatch(9);
            for (int i = 0; i < cs.size(); i++) {
                String id = "p" + i;
                LeaderSelector s = new LeaderSelector(cs.get(i), root + "/sel", new LeaderSelectorListenerAdapter() {
                    @Override
                    public void takeLeadership(CuratorFramework c) throws Exception {
                        most.accumulateAndGet(leading.incrementAndGet(), Math::max);
                        led.merge(id, 1, Integer::sum);
                        terms.incrementAndGet();
                        Thread.sleep(10);
                        leading.decrementAndGet();
                        enough.countDown();
                    }
                });
                s.setId(id);
                s.autoRequeue();
                selectors.add(s);
            }
            for (LeaderSelector s : selectors) s.start();
            check(enough.await(DEADLINE_MS, TimeUnit.MILLISECONDS), "only " + terms.get() + " terms");
            check(most.get() == 1, most.get() + " leaders at once");
            // Requeued in order: every participant gets its turn.
            check(led.size() == 3, "led: " + led);
        } finally {
            closeAll(selectors);
            closeAll(cs);
        }
    }

    static void atomicLong() throws Exception {
        List<CuratorFramework> cs = clients(3);
        try {
            AtomicLong succeeded = new AtomicLong();
            List<Callable<Void>> tasks = new ArrayList<>();
            for (CuratorFramework c : cs) {
                for (int t = 0; t < 2; t++) {
                    tasks.add(() -> {
                        DistributedAtomicLong n = new DistributedAtomicLong(c, root + "/n", new RetryNTimes(1000, 1));
                        for (int i = 0; i < 10; i++) {
                            AtomicValue<Long> v = n.increment();
                            if (v.succeeded()) {
                                check(v.postValue() == v.preValue() + 1, "increment " + v.preValue() + " -> " + v.postValue());
                                succeeded.incrementAndGet();
                            }
                        }
                        return null;
                    });
                }
            }
            parallel(tasks);
            syncWith(cs.get(0), root + "/n");
            long value = new DistributedAtomicLong(cs.get(0), root + "/n", new RetryNTimes(3, 10)).get().postValue();
            check(succeeded.get() > 0, "no increment succeeded");
            check(value == succeeded.get(), "value " + value + " after " + succeeded.get() + " successful increments");
            // compareAndSet: the wrong expected value is refused, the right one taken.
            syncWith(cs.get(1), root + "/n");
            DistributedAtomicLong n = new DistributedAtomicLong(cs.get(1), root + "/n", new RetryNTimes(3, 10));
            check(!n.compareAndSet(value + 1, 0L).succeeded(), "compareAndSet with a wrong expected value succeeded");
            check(n.compareAndSet(value, -5L).succeeded(), "compareAndSet with the right expected value failed");
            check(n.get().postValue() == -5L, "value after compareAndSet " + n.get().postValue());
        } finally {
            closeAll(cs);
        }
    }

    static void sharedCount() throws Exception {
        List<CuratorFramework> cs = clients(3);
        List<SharedCount> counts = new ArrayList<>();
        try {
            for (CuratorFramework c : cs) {
                SharedCount s = new SharedCount(c, root + "/count", 0);
                s.start();
                counts.add(s);
            }
            int per = 10;
            List<Callable<Void>> tasks = new ArrayList<>();
            for (SharedCount s : counts) {
                tasks.add(() -> {
                    for (int i = 0; i < per; i++) {
                        while (true) {
                            VersionedValue<Integer> v = s.getVersionedValue();
                            if (s.trySetCount(v, v.getValue() + 1)) break;
                        }
                    }
                    return null;
                });
            }
            parallel(tasks);
            int want = per * counts.size();
            // Every member's view converges through its watch.
            for (SharedCount s : counts) waitFor("count " + want + " everywhere", () -> s.getCount() == want);
            // A stale version is refused.
            VersionedValue<Integer> stale = counts.get(0).getVersionedValue();
            check(counts.get(1).trySetCount(counts.get(1).getVersionedValue(), 0), "a fresh trySetCount failed");
            waitFor("the reset to reach member 0", () -> counts.get(0).getCount() == 0);
            check(!counts.get(0).trySetCount(stale, 99), "a trySetCount with a stale version succeeded");
        } finally {
            closeAll(counts);
            closeAll(cs);
        }
    }

    static void barrier() throws Exception {
        List<CuratorFramework> cs = clients(3);
        try {
            DistributedBarrier setter = new DistributedBarrier(cs.get(0), root + "/barrier");
            setter.setBarrier();
            AtomicInteger through = new AtomicInteger();
            CountDownLatch waiting = new CountDownLatch(cs.size());
            ExecutorService pool = Executors.newFixedThreadPool(cs.size());
            List<Future<Boolean>> fs = new ArrayList<>();
            for (CuratorFramework c : cs) {
                fs.add(pool.submit(() -> {
                    // The barrier was set through another client: this one's
                    // server may not have applied it yet (ZooKeeper orders
                    // each client's view, not views across clients).
                    syncWith(c, root + "/barrier");
                    DistributedBarrier b = new DistributedBarrier(c, root + "/barrier");
                    waiting.countDown();
                    boolean passed = b.waitOnBarrier(DEADLINE_MS, TimeUnit.MILLISECONDS);
                    through.incrementAndGet();
                    return passed;
                }));
            }
            check(waiting.await(10, TimeUnit.SECONDS), "waiters did not start");
            // Waiting on a set barrier blocks (the short bound just keeps the run short).
            syncWith(cs.get(1), root + "/barrier");
            check(!new DistributedBarrier(cs.get(1), root + "/barrier").waitOnBarrier(300, TimeUnit.MILLISECONDS),
                "passed a barrier that is set");
            check(through.get() == 0, through.get() + " went through a set barrier");
            setter.removeBarrier();
            for (Future<Boolean> f : fs) check(f.get(DEADLINE_MS, TimeUnit.MILLISECONDS), "a waiter timed out after removeBarrier");
            pool.shutdownNow();
            syncWith(cs.get(2), root);
            check(cs.get(2).checkExists().forPath(root + "/barrier") == null, "barrier node still there");
        } finally {
            closeAll(cs);
        }
    }

    static void doubleBarrier() throws Exception {
        int members = 3;
        List<CuratorFramework> cs = clients(members);
        try {
            AtomicInteger entered = new AtomicInteger();
            AtomicInteger left = new AtomicInteger();
            AtomicReference<String> broken = new AtomicReference<>();
            List<Callable<Void>> tasks = new ArrayList<>();
            for (int i = 0; i < members; i++) {
                CuratorFramework c = cs.get(i);
                int me = i;
                tasks.add(() -> {
                    // Staggered arrivals: nobody may get in before the last one arrives.
                    Thread.sleep(100L * me);
                    DistributedDoubleBarrier b = new DistributedDoubleBarrier(c, root + "/dbl", members);
                    entered.incrementAndGet();
                    check(b.enter(DEADLINE_MS, TimeUnit.MILLISECONDS), "enter timed out");
                    if (entered.get() != members) broken.set("entered with " + entered.get() + " of " + members + " arrived");
                    Thread.sleep(50L * me);
                    left.incrementAndGet();
                    check(b.leave(DEADLINE_MS, TimeUnit.MILLISECONDS), "leave timed out");
                    if (left.get() != members) broken.set("left with " + left.get() + " of " + members + " leaving");
                    return null;
                });
            }
            parallel(tasks);
            check(broken.get() == null, String.valueOf(broken.get()));
        } finally {
            closeAll(cs);
        }
    }

    /** The tree under `base` as path -> data, read directly. */
    static Map<String, String> tree(CuratorFramework c, String base) throws Exception {
        Map<String, String> out = new TreeMap<>();
        Deque<String> todo = new ArrayDeque<>(List.of(base));
        while (!todo.isEmpty()) {
            String p = todo.pop();
            try {
                out.put(p, str(c.getData().forPath(p)));
                for (String child : c.getChildren().forPath(p)) todo.push(p + "/" + child);
            } catch (KeeperException.NoNodeException gone) {
                // deleted between the two reads: not part of the tree
            }
        }
        return out;
    }

    /** Random creates, sets and deletes from several clients under `base`. */
    static void churn(List<CuratorFramework> cs, String base, long seed) throws Exception {
        List<Callable<Void>> tasks = new ArrayList<>();
        for (int i = 0; i < cs.size(); i++) {
            CuratorFramework c = cs.get(i);
            Random rnd = new Random(seed * 31 + i);
            tasks.add(() -> {
                for (int k = 0; k < 40; k++) {
                    String p = base + "/n" + rnd.nextInt(6) + (rnd.nextBoolean() ? "" : "/m" + rnd.nextInt(3));
                    try {
                        switch (rnd.nextInt(3)) {
                            case 0 -> c.create().creatingParentsIfNeeded().forPath(p, bytes("c" + k));
                            case 1 -> c.setData().forPath(p, bytes("s" + k));
                            default -> c.delete().deletingChildrenIfNeeded().forPath(p);
                        }
                    } catch (KeeperException.NoNodeException | KeeperException.NodeExistsException
                             | KeeperException.NotEmptyException expected) {
                        // a race with another client: part of the load
                    }
                }
                return null;
            });
        }
        parallel(tasks);
    }

    static void curatorCache() throws Exception {
        List<CuratorFramework> cs = clients(3);
        CuratorCache cache = CuratorCache.build(cs.get(0), root);
        try {
            // Issue 14's program: the listener must end with the node's last
            // value (as a change, or in the created event when the cache's
            // read after NodeCreated already saw the setData: Curator reads
            // on each event and reports only versions it has not stored;
            // ZooKeeper 3.8 shows both outcomes).
            Map<String, String> last = new ConcurrentHashMap<>();
            CountDownLatch initialized = new CountDownLatch(1);
            cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(n -> last.put(n.getPath(), str(n.getData())))
                .forChanges((o, n) -> last.put(n.getPath(), str(n.getData())))
                .forDeletes(o -> last.remove(o.getPath()))
                .forInitialized(initialized::countDown)
                .build());
            cache.start();
            check(initialized.await(10, TimeUnit.SECONDS), "cache never initialized");
            CuratorFramework w = cs.get(1);
            w.create().forPath(root, bytes("v1"));
            w.create().forPath(root + "/child", bytes("c"));
            w.setData().forPath(root, bytes("v2"));
            w.delete().forPath(root + "/child");
            waitFor("the cache's listener to report v2 and the child gone",
                () -> "v2".equals(last.get(root)) && !last.containsKey(root + "/child"));
            // Then a churn from all clients: the cache, and what its
            // listener reported, converge on the tree.
            churn(cs, root, root.hashCode());
            syncWith(w, root);
            Map<String, String> want = tree(w, root);
            waitFor("the cache to converge", () -> {
                Map<String, String> got = new TreeMap<>();
                cache.stream().forEach(d -> got.put(d.getPath(), str(d.getData())));
                return got.equals(want) && new TreeMap<>(last).equals(want);
            });
        } finally {
            cache.close();
            closeAll(cs);
        }
    }

    static void treeCache() throws Exception {
        List<CuratorFramework> cs = clients(3);
        cs.get(0).create().forPath(root, bytes("r"));
        TreeCache cache = TreeCache.newBuilder(cs.get(0), root).build();
        try {
            Map<String, String> last = new ConcurrentHashMap<>();
            CountDownLatch initialized = new CountDownLatch(1);
            cache.getListenable().addListener((c, e) -> {
                switch (e.getType()) {
                    case NODE_ADDED, NODE_UPDATED -> last.put(e.getData().getPath(), str(e.getData().getData()));
                    case NODE_REMOVED -> last.remove(e.getData().getPath());
                    case INITIALIZED -> initialized.countDown();
                    default -> { }
                }
            });
            cache.start();
            check(initialized.await(10, TimeUnit.SECONDS), "tree cache never initialized");
            churn(cs, root, root.hashCode());
            syncWith(cs.get(1), root);
            Map<String, String> want = tree(cs.get(1), root);
            waitFor("the tree cache to converge", () -> {
                Map<String, String> got = new TreeMap<>();
                collect(cache, root, got);
                return got.equals(want) && new TreeMap<>(last).equals(want);
            });
        } finally {
            cache.close();
            closeAll(cs);
        }
    }

    static void collect(TreeCache cache, String path, Map<String, String> into) {
        ChildData d = cache.getCurrentData(path);
        if (d == null) return;
        into.put(path, str(d.getData()));
        Map<String, ChildData> children = cache.getCurrentChildren(path);
        if (children == null) return;
        for (String name : children.keySet()) collect(cache, path + "/" + name, into);
    }

    /** Ends `c`'s session from the server's side: a second connection
     *  with the same id and password closes it (ZooKeeper's own way to
     *  expire a session in tests). */
    static void expireSession(CuratorFramework c) throws Exception {
        ZooKeeper zk = c.getZookeeperClient().getZooKeeper();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper twin = new ZooKeeper(hosts, 10_000, e -> {
            if (e.getState() == org.apache.zookeeper.Watcher.Event.KeeperState.SyncConnected) connected.countDown();
        }, zk.getSessionId(), zk.getSessionPasswd());
        check(connected.await(10, TimeUnit.SECONDS), "the twin connection never connected");
        twin.close();
    }

    static void persistentNode() throws Exception {
        List<CuratorFramework> cs = clients(2);
        CuratorFramework owner = cs.get(0);
        CuratorFramework watcher = cs.get(1);
        watcher.create().forPath(root);
        String path = root + "/member";
        PersistentNode node = new PersistentNode(owner, CreateMode.EPHEMERAL, false, path, bytes("me"));
        try {
            node.start();
            check(node.waitForInitialCreate(10, TimeUnit.SECONDS), "never created");
            // Another client's server may not have applied it yet (ZooKeeper
            // promises order per client, not across clients): sync first.
            syncWith(watcher, path);
            Stat first = watcher.checkExists().forPath(path);
            check(first != null && first.getEphemeralOwner() == owner.getZookeeperClient().getZooKeeper().getSessionId(),
                "not the owner's ephemeral: " + first);
            long oldSession = first.getEphemeralOwner();
            expireSession(owner);
            // The server deleted the ephemeral with the session; the recipe
            // makes a new session and creates it again, with the same data.
            waitFor("the node back under a new session", () -> {
                Stat s = watcher.checkExists().forPath(path);
                return s != null && s.getEphemeralOwner() != oldSession;
            });
            syncWith(watcher, path);
            check("me".equals(str(watcher.getData().forPath(path))), "data changed");
            // setData through the recipe reaches the node.
            node.setData(bytes("again"));
            waitFor("setData through the recipe", () -> "again".equals(str(watcher.getData().forPath(path))));
            node.close();
            waitFor("the node gone after close", () -> watcher.checkExists().forPath(path) == null);
        } finally {
            node.close();
            closeAll(cs);
        }
    }

    static void transactions() throws Exception {
        List<CuratorFramework> cs = clients(2);
        try {
            CuratorFramework c = cs.get(0);
            CuratorFramework other = cs.get(1);
            c.create().forPath(root, bytes("0"));
            CuratorOp a = c.transactionOp().create().forPath(root + "/a", bytes("A"));
            CuratorOp b = c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(root + "/s-", bytes("S"));
            CuratorOp set = c.transactionOp().setData().withVersion(0).forPath(root, bytes("1"));
            CuratorOp chk = c.transactionOp().check().withVersion(1).forPath(root);
            List<CuratorTransactionResult> rs = c.transaction().forOperations(a, b, set, chk);
            check(rs.size() == 4, "results " + rs.size());
            check(rs.get(0).getType() == OperationType.CREATE && rs.get(0).getResultPath().equals(root + "/a"), "create result " + rs.get(0).getResultPath());
            check(rs.get(1).getResultPath().startsWith(root + "/s-") && rs.get(1).getResultPath().length() == (root + "/s-").length() + 10,
                "sequential result " + rs.get(1).getResultPath());
            check(rs.get(2).getType() == OperationType.SET_DATA && rs.get(2).getResultStat().getVersion() == 1, "set result");
            syncWith(other, root);
            check("1".equals(str(other.getData().forPath(root))), "set not visible");
            // All or nothing: a failing check undoes the ops before it.
            CuratorOp c2 = c.transactionOp().create().forPath(root + "/never", bytes("x"));
            CuratorOp d = c.transactionOp().delete().forPath(root + "/a");
            CuratorOp bad = c.transactionOp().check().withVersion(7).forPath(root);
            try {
                c.transaction().forOperations(c2, d, bad);
                throw new Failed("a transaction with a failing check committed");
            } catch (KeeperException.BadVersionException expected) {
                // ZooKeeper reports the failing op's error
            }
            syncWith(other, root);
            check(other.checkExists().forPath(root + "/never") == null, "part of a failed transaction applied (create)");
            check(other.checkExists().forPath(root + "/a") != null, "part of a failed transaction applied (delete)");
            // Deleting a node and its parent in one transaction, in order.
            c.transaction().forOperations(
                c.transactionOp().delete().forPath(root + "/a"),
                c.transactionOp().delete().forPath(rs.get(1).getResultPath()),
                c.transactionOp().delete().forPath(root));
            syncWith(other, "/");
            check(other.checkExists().forPath(root) == null, "delete transaction not applied");
        } finally {
            closeAll(cs);
        }
    }
}
