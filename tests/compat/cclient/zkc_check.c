/*
 * The ZooKeeper C client (Debian's libzookeeper-mt, 3.8) against one
 * ensemble, ZooKeeper or synod: connect, CRUD with versions and error codes,
 * watches (data, exists, children; one-shot), ephemeral and sequential
 * nodes, multi (all or nothing), and session expiry (a twin handle with the
 * same id and password closes the session: the ephemeral goes, a watcher on
 * another session hears it, and the expired handle is told).
 *
 *   zkc_check HOSTS [broken]
 *
 * Prints one line per check and "c-client: P passed, F failed"; exits 1 if
 * any failed. `broken` runs the watch checks with an expectation that is
 * wrong on purpose, so the run must fail: a self-test of the checker.
 * Every wait has a deadline; nothing depends on how long something took.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#define DEADLINE_S 20
#define EVENTS_MAX 64

static int passed, failed;
static int broken_mode;

static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok    " : "FAILED");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    if (ok) {
        passed++;
    } else {
        failed++;
    }
}

/* Everything a handle's watchers were told, in order. */
struct events {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    int type[EVENTS_MAX];
    int state[EVENTS_MAX];
    char path[EVENTS_MAX][256];
    int taken;
};

static void events_init(struct events *e) {
    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
}

static void on_event(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    struct events *e = ctx;
    pthread_mutex_lock(&e->lock);
    if (e->n < EVENTS_MAX) {
        e->type[e->n] = type;
        e->state[e->n] = state;
        snprintf(e->path[e->n], sizeof(e->path[0]), "%s", path ? path : "");
        e->n++;
    }
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static struct timespec deadline(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += DEADLINE_S;
    return t;
}

/* The next event not yet taken, waiting for it; 0 when none came in time. */
static int next_event(struct events *e, int *type, int *state, char *path) {
    struct timespec until = deadline();
    pthread_mutex_lock(&e->lock);
    while (e->taken >= e->n) {
        if (pthread_cond_timedwait(&e->cond, &e->lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&e->lock);
            return 0;
        }
    }
    int i = e->taken++;
    *type = e->type[i];
    *state = e->state[i];
    strcpy(path, e->path[i]);
    pthread_mutex_unlock(&e->lock);
    return 1;
}

static const char *type_name(int t) {
    if (t == ZOO_CREATED_EVENT) return "created";
    if (t == ZOO_DELETED_EVENT) return "deleted";
    if (t == ZOO_CHANGED_EVENT) return "changed";
    if (t == ZOO_CHILD_EVENT) return "child";
    if (t == ZOO_SESSION_EVENT) return "session";
    if (t == ZOO_NOTWATCHING_EVENT) return "notwatching";
    return "?";
}

/* Takes the next event and checks it is `type` on `path`. */
static void expect_event(struct events *e, int type, const char *path, const char *what) {
    int t = 0, s = 0;
    char p[256] = "";
    if (!next_event(e, &t, &s, p)) {
        check(0, "%s: no event within %d s", what, DEADLINE_S);
        return;
    }
    check(t == type && strcmp(p, path) == 0, "%s: %s %s (want %s %s)", what, type_name(t), p,
          type_name(type), path);
}

/* A connected handle whose session events land in `e`. */
static zhandle_t *connect_to(const char *hosts, struct events *e, const clientid_t *id) {
    zhandle_t *zh = zookeeper_init(hosts, on_event, 10000, id, e, 0);
    if (!zh) return NULL;
    int t, s;
    char p[256];
    while (next_event(e, &t, &s, p)) {
        if (t == ZOO_SESSION_EVENT && s == ZOO_CONNECTED_STATE) return zh;
    }
    zookeeper_close(zh);
    return NULL;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
};

static void sync_done(int rc, const char *value, const void *data) {
    (void)value;
    struct sync_wait *w = (struct sync_wait *)data;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->rc = rc;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* ZooKeeper's sync: the handle's server catches up with the leader. */
static int sync_with(zhandle_t *zh, const char *path) {
    struct sync_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    if (zoo_async(zh, path, sync_done, &w) != ZOK) return 0;
    struct timespec until = deadline();
    pthread_mutex_lock(&w.lock);
    while (!w.done) {
        if (pthread_cond_timedwait(&w.cond, &w.lock, &until) == ETIMEDOUT) break;
    }
    int ok = w.done && w.rc == ZOK;
    pthread_mutex_unlock(&w.lock);
    /* On a timeout the completion may still come: w must outlive it. */
    if (!w.done) {
        fprintf(stderr, "sync timed out\n");
        exit(1);
    }
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: zkc_check HOSTS [broken]\n");
        return 2;
    }
    const char *hosts = argv[1];
    broken_mode = argc > 2 && strcmp(argv[2], "broken") == 0;
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    char root[128];
    snprintf(root, sizeof root, "/cclient-%d-%ld", (int)getpid(), (long)time(NULL));
    char path[640], got[512], buf[256];
    struct Stat st;
    int len, rc;

    struct events ea, eb;
    events_init(&ea);
    events_init(&eb);
    zhandle_t *a = connect_to(hosts, &ea, NULL);
    zhandle_t *b = connect_to(hosts, &eb, NULL);
    check(a && b, "two sessions connect");
    if (!a || !b) goto out;

    /* ---- CRUD ---- */
    rc = zoo_create(a, root, "hello", 5, &ZOO_OPEN_ACL_UNSAFE, 0, got, sizeof got);
    check(rc == ZOK && strcmp(got, root) == 0, "create %s: rc %d path %s", root, rc, got);
    rc = zoo_create(a, root, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, got, sizeof got);
    check(rc == ZNODEEXISTS, "create again: ZNODEEXISTS (rc %d)", rc);
    len = sizeof buf;
    rc = zoo_get(a, root, 0, buf, &len, &st);
    check(rc == ZOK && len == 5 && memcmp(buf, "hello", 5) == 0 && st.version == 0 &&
              st.dataLength == 5 && st.numChildren == 0 && st.ephemeralOwner == 0,
          "get: data, version 0, length 5 (rc %d len %d version %d)", rc, len, st.version);
    rc = zoo_set(a, root, "world!", 6, 0);
    check(rc == ZOK, "set at version 0 (rc %d)", rc);
    rc = zoo_set(a, root, "stale", 5, 0);
    check(rc == ZBADVERSION, "set at a stale version: ZBADVERSION (rc %d)", rc);
    len = sizeof buf;
    rc = zoo_get(a, root, 0, buf, &len, &st);
    check(rc == ZOK && len == 6 && memcmp(buf, "world!", 6) == 0 && st.version == 1,
          "get after set: version 1 (rc %d version %d)", rc, st.version);
    snprintf(path, sizeof path, "%s/missing", root);
    len = sizeof buf;
    rc = zoo_get(a, path, 0, buf, &len, &st);
    check(rc == ZNONODE, "get a missing node: ZNONODE (rc %d)", rc);
    snprintf(path, sizeof path, "%s/child", root);
    rc = zoo_create(a, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, got, sizeof got);
    check(rc == ZOK, "create a child with no data (rc %d)", rc);
    rc = zoo_delete(a, root, -1);
    check(rc == ZNOTEMPTY, "delete a parent: ZNOTEMPTY (rc %d)", rc);
    struct String_vector kids;
    rc = zoo_get_children(a, root, 0, &kids);
    check(rc == ZOK && kids.count == 1 && strcmp(kids.data[0], "child") == 0,
          "children: [child] (rc %d count %d)", rc, rc == ZOK ? kids.count : -1);
    if (rc == ZOK) deallocate_String_vector(&kids);
    rc = zoo_delete(a, path, 5);
    check(rc == ZBADVERSION, "delete at a wrong version: ZBADVERSION (rc %d)", rc);
    rc = zoo_delete(a, path, 0);
    check(rc == ZOK, "delete at its version (rc %d)", rc);

    /* ---- watches: b watches, a changes ---- */
    len = sizeof buf;
    rc = zoo_wget(b, root, on_event, &eb, buf, &len, &st);
    check(rc == ZOK, "b: getData with a watch (rc %d)", rc);
    rc = zoo_set(a, root, "1", 1, -1);
    expect_event(&eb, ZOO_CHANGED_EVENT, broken_mode ? "/elsewhere" : root, "b hears setData");
    /* One-shot: a second change without a new watch tells b nothing; the
     * next event b gets is the one for the watch it sets next. */
    rc = zoo_set(a, root, "2", 1, -1);
    snprintf(path, sizeof path, "%s/new", root);
    rc = zoo_wexists(b, path, on_event, &eb, &st);
    check(rc == ZNONODE, "b: exists with a watch on a missing node (rc %d)", rc);
    rc = zoo_create(a, path, "n", 1, &ZOO_OPEN_ACL_UNSAFE, 0, got, sizeof got);
    expect_event(&eb, ZOO_CREATED_EVENT, path, "b hears create, and nothing for the unwatched set");
    struct String_vector kids2;
    rc = zoo_wget_children(b, root, on_event, &eb, &kids2);
    check(rc == ZOK, "b: getChildren with a watch (rc %d)", rc);
    if (rc == ZOK) deallocate_String_vector(&kids2);
    len = sizeof buf;
    rc = zoo_wget(b, path, on_event, &eb, buf, &len, &st);
    rc = zoo_delete(a, path, -1);
    /* The deleted node's data watch and its parent's child watch both fire. */
    {
        int t1 = 0, t2 = 0, s;
        char p1[256] = "", p2[256] = "";
        int got1 = next_event(&eb, &t1, &s, p1);
        int got2 = got1 && next_event(&eb, &t2, &s, p2);
        int deleted = (t1 == ZOO_DELETED_EVENT && !strcmp(p1, path)) ||
                      (t2 == ZOO_DELETED_EVENT && !strcmp(p2, path));
        int child = (t1 == ZOO_CHILD_EVENT && !strcmp(p1, root)) ||
                    (t2 == ZOO_CHILD_EVENT && !strcmp(p2, root));
        check(got2 && deleted && child, "b hears delete: deleted %s and child %s (got %s %s, %s %s)",
              path, root, type_name(t1), p1, type_name(t2), p2);
    }

    /* ---- sequential and ephemeral nodes ---- */
    char seq[3][512];
    int seq_ok = 1;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/s-", root);
        rc = zoo_create(a, path, "s", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL, seq[i],
                        sizeof seq[i]);
        seq_ok &= rc == ZOK && strlen(seq[i]) == strlen(path) + 10;
        if (i > 0) seq_ok &= strcmp(seq[i - 1], seq[i]) < 0;
    }
    check(seq_ok, "three sequential nodes, 10-digit increasing suffixes (%s, %s, %s)", seq[0],
          seq[1], seq[2]);
    char eph[512];
    snprintf(path, sizeof path, "%s/e-", root);
    rc = zoo_create(a, path, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL, eph, sizeof eph);
    check(rc == ZOK && strlen(eph) == strlen(path) + 10, "ephemeral sequential %s (rc %d)", eph, rc);
    const clientid_t *aid = zoo_client_id(a);
    check(sync_with(b, eph), "b: sync");
    rc = zoo_exists(b, eph, 0, &st);
    check(rc == ZOK && st.ephemeralOwner == aid->client_id,
          "b sees the ephemeral, owned by a's session (rc %d)", rc);
    snprintf(path, sizeof path, "%s/kid", eph);
    rc = zoo_create(a, path, "k", 1, &ZOO_OPEN_ACL_UNSAFE, 0, got, sizeof got);
    check(rc == ZNOCHILDRENFOREPHEMERALS, "a child of an ephemeral: ZNOCHILDRENFOREPHEMERALS (rc %d)",
          rc);

    /* ---- multi: all or nothing ---- */
    {
        zoo_op_t ops[3];
        zoo_op_result_t res[3];
        char p1[512], out1[512];
        snprintf(p1, sizeof p1, "%s/m", root);
        zoo_create_op_init(&ops[0], p1, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out1, sizeof out1);
        zoo_set_op_init(&ops[1], root, "multi", 5, -1, NULL);
        zoo_check_op_init(&ops[2], root, 999);
        rc = zoo_multi(a, 3, ops, res);
        check(rc == ZBADVERSION && res[2].err == ZBADVERSION,
              "multi with a failing check: ZBADVERSION (rc %d, op 3: %d)", rc, res[2].err);
        rc = zoo_exists(a, p1, 0, &st);
        check(rc == ZNONODE, "nothing of the failed multi applied (rc %d)", rc);
        zoo_create_op_init(&ops[0], p1, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out1, sizeof out1);
        zoo_set_op_init(&ops[1], root, "multi", 5, -1, NULL);
        zoo_check_op_init(&ops[2], p1, 0);
        rc = zoo_multi(a, 3, ops, res);
        check(rc == ZOK && strcmp(out1, p1) == 0, "multi create+set+check (rc %d)", rc);
    }

    /* ---- session expiry ---- */
    rc = zoo_wexists(b, eph, on_event, &eb, &st);
    check(rc == ZOK, "b: exists with a watch on a's ephemeral (rc %d)", rc);
    {
        clientid_t id = *aid;
        struct events et;
        events_init(&et);
        zhandle_t *twin = connect_to(hosts, &et, &id);
        check(twin != NULL && zoo_client_id(twin)->client_id == id.client_id,
              "a twin handle attaches to a's session");
        if (twin) zookeeper_close(twin); /* closes the session itself */
    }
    expect_event(&eb, ZOO_DELETED_EVENT, eph, "b hears the ephemeral go with the session");
    {
        int t, s, expired = 0;
        char p[256];
        while (!expired && next_event(&ea, &t, &s, p)) {
            expired = t == ZOO_SESSION_EVENT && s == ZOO_EXPIRED_SESSION_STATE;
        }
        check(expired, "a is told its session expired");
    }
    check(sync_with(b, root), "b: sync");
    rc = zoo_exists(b, eph, 0, &st);
    check(rc == ZNONODE, "the ephemeral is gone (rc %d)", rc);

    /* ---- clean up (b's session is still alive) ---- */
    rc = zoo_get_children(b, root, 0, &kids);
    if (rc == ZOK) {
        for (int i = 0; i < kids.count; i++) {
            snprintf(path, sizeof path, "%s/%s", root, kids.data[i]);
            zoo_delete(b, path, -1);
        }
        deallocate_String_vector(&kids);
    }
    rc = zoo_delete(b, root, -1);
    check(rc == ZOK, "b removes the test tree (rc %d)", rc);

out:
    if (a) zookeeper_close(a);
    if (b) zookeeper_close(b);
    printf("c-client: %d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
