/*
 * The manifest folder adapter (kube/manifest_dir.c) on a real temporary directory and a real libuv
 * loop: the initial load (path order, hidden and foreign files skipped, collections synced),
 * rescans that apply exactly the difference (edits, creations, deletions, moves between files,
 * conflicts between files, half-written files keeping their objects), and watching with inotify
 * (creation, editor-style bursts giving one update, rename, new subdirectories, deletion, a single
 * file watched through its directory). Every wait is a bounded loop run: it ends when the expected
 * state is reached or after a generous deadline, which fails the test — no timing is asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <dirent.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "krt/json.h"
#include "krt/krt.h"
#include "kube/manifest_dir.h"
#include "kube/source.h"

#define DEADLINE_MS 20000 /* a bound for waits, never reached when things work */

/* ---------------------------------------------------------------------------------------------
 * Fixture.
 * ------------------------------------------------------------------------------------------- */
typedef struct env {
    char dir[64];
    uv_loop_t loop;
    krt_engine_t *e;
    kube_source_t *src;
    kube_manifest_dir_t *d;
    /* what on_update saw */
    size_t updates;
    char changes[8192]; /* "put ID@FILE:LINE" / "delete ID" separated by ", ", since last take */
    char errors[8192];  /* error messages (dir prefix removed), "\n"-separated, since last take */
    bool initial_seen;
    bool close_in_callback;
    size_t log_lines;
} env_t;

static void strip_dir(const env_t *v, const char *in, char *out, size_t cap)
{
    size_t dl = strlen(v->dir);
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 1 < cap;) {
        if (strncmp(in + i, v->dir, dl) == 0 && in[i + dl] == '/') {
            i += dl + 1;
            continue;
        }
        out[k++] = in[i++];
    }
    out[k] = '\0';
}

static void append(char *buf, size_t cap, const char *sep, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? sep : "", s);
}

static void on_update(kube_manifest_dir_t *d, const kube_manifest_dir_update_t *u, void *ud)
{
    env_t *v = ud;
    assert_ptr_equal(d, v->d);
    v->updates++;
    if (u->initial)
        v->initial_seen = true;
    for (size_t i = 0; i < u->nchanges; i++) {
        const kube_change_t *c = &u->changes[i];
        char *id = kube_object_identity(c->object, NULL);
        assert_non_null(id);
        char line[512], origin[256];
        strip_dir(v, c->origin ? c->origin : "", origin, sizeof origin);
        if (c->op == KUBE_CHANGE_PUT)
            snprintf(line, sizeof line, "put %s@%s", id, origin);
        else if (c->op == KUBE_CHANGE_DELETE)
            snprintf(line, sizeof line, "delete %s", id);
        else
            fail_msg("unexpected op %d", (int)c->op);
        append(v->changes, sizeof v->changes, ", ", line);
        free(id);
    }
    for (size_t i = 0; i < u->nerrors; i++) {
        char msg[1024];
        strip_dir(v, u->errors[i], msg, sizeof msg);
        append(v->errors, sizeof v->errors, "\n", msg);
    }
    /* The caller's job: flush the engine once per applied change set. */
    assert_int_equal(krt_engine_flush(v->e), KRT_OK);
    if (v->close_in_callback) {
        kube_manifest_dir_close(d);
        v->d = NULL;
    }
}

static void quiet_log(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    ((env_t *)ud)->log_lines++;
}

static void env_init(env_t *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->dir, sizeof v->dir, "/tmp/krtgate-mdir-XXXXXX");
    assert_non_null(mkdtemp(v->dir));
    assert_int_equal(uv_loop_init(&v->loop), 0);
    v->e = krt_engine_new();
    kube_source_options_t so = {.log = quiet_log, .log_ud = v};
    v->src = kube_source_new(v->e, &so);
    assert_non_null(v->src);
}

static int open_dir(env_t *v, bool watch, const char *const *rel, size_t n)
{
    char paths[8][256];
    const char *pp[8];
    for (size_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s%s%s", v->dir, *rel[i] ? "/" : "", rel[i]);
        pp[i] = paths[i];
    }
    kube_manifest_dir_options_t o = {.watch = watch,
                                     .settle_ms = 20,
                                     .max_delay_ms = 200,
                                     .on_update = on_update,
                                     .ud = v,
                                     .log = quiet_log,
                                     .log_ud = v};
    assert_int_equal(kube_manifest_dir_new(&v->loop, v->src, pp, n, &o, &v->d), KUBE_OK);
    return kube_manifest_dir_start(v->d);
}

/* Removes |path| and everything under it (symlinks are not followed). */
static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dh = opendir(path);
        struct dirent *de;
        while (dh && (de = readdir(dh))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_tree(sub);
        }
        if (dh)
            closedir(dh);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void env_dispose(env_t *v)
{
    kube_manifest_dir_close(v->d);
    /* Let the handles' close callbacks run; the loop then has nothing left. */
    assert_int_equal(uv_run(&v->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&v->loop), 0);
    assert_int_equal(krt_engine_check(v->e), KRT_OK);
    kube_source_free(v->src);
    krt_engine_free(v->e);
    rm_tree(v->dir);
}

static void put_file(env_t *v, const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", v->dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755); /* one level is all the tests need */
    *slash = '/';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
}

static void rm_file(env_t *v, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", v->dir, rel);
    assert_int_equal(unlink(path), 0);
}

static void mv_file(env_t *v, const char *from, const char *to)
{
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/%s", v->dir, from);
    snprintf(b, sizeof b, "%s/%s", v->dir, to);
    assert_int_equal(rename(a, b), 0);
}

static const char *take_changes(env_t *v)
{
    static char out[8192];
    memcpy(out, v->changes, sizeof out);
    v->changes[0] = '\0';
    return out;
}

static const char *take_errors(env_t *v)
{
    static char out[8192];
    memcpy(out, v->errors, sizeof out);
    v->errors[0] = '\0';
    return out;
}

static const krt_obj_t *svc(env_t *v, const char *key)
{
    return krt_collection_get(kube_source_collection(v->src, "Service"), key);
}

static long long svc_port(env_t *v, const char *key)
{
    const krt_obj_t *o = svc(v, key);
    if (!o)
        return -1;
    json_t *spec = json_object_get(krt_json_value(o), "spec");
    return json_integer_value(json_object_get(spec, "port"));
}

#define SVC(name, port) \
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\nspec:\n  port: " #port "\n"

/* Bounded wait: runs the loop until |pred| holds; fails after DEADLINE_MS. */
typedef bool (*pred_cb)(env_t *v, const void *arg);

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void wait_for(env_t *v, pred_cb pred, const void *arg, const char *what)
{
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(&v->loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, DEADLINE_MS, 0);
    while (!pred(v, arg) && !expired)
        uv_run(&v->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&v->loop, UV_RUN_NOWAIT);
    if (expired)
        fail_msg("waited %d ms for: %s", DEADLINE_MS, what);
}

static bool rounds_past(env_t *v, const void *arg)
{
    return kube_manifest_dir_rounds(v->d) > *(const size_t *)arg;
}

static bool has_svc(env_t *v, const void *arg)
{
    return svc(v, arg) != NULL;
}

static bool lacks_svc(env_t *v, const void *arg)
{
    return svc(v, arg) == NULL;
}

typedef struct port_want {
    const char *key;
    long long port;
} port_want_t;

static bool svc_has_port(env_t *v, const void *arg)
{
    const port_want_t *w = arg;
    return svc_port(v, w->key) == w->port;
}

/* Waits for the next round to finish (whatever it applies). */
static void wait_round(env_t *v, const char *what)
{
    size_t r = kube_manifest_dir_rounds(v->d);
    wait_for(v, rounds_past, &r, what);
}

/* ---------------------------------------------------------------------------------------------
 * Loading and rescanning (no watch).
 * ------------------------------------------------------------------------------------------- */
static void test_initial_load_reads_the_tree_in_path_order(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "b/b.yml", SVC("b", 2));
    put_file(&v, "a.yaml", "# comment\n" SVC("a", 1) "---\n" SVC("a2", 11));
    put_file(&v, "c.json",
             "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": "
             "{\"name\": \"c\", \"namespace\": \"ns\"}}");
    put_file(&v, ".hidden.yaml", SVC("hidden", 3));
    put_file(&v, ".git/x.yaml", SVC("git", 3));
    put_file(&v, "notes.txt", SVC("txt", 3));
    put_file(&v, "a.yaml~", SVC("backup", 3));
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    assert_int_equal(v.updates, 1);
    assert_true(v.initial_seen);
    assert_string_equal(take_changes(&v),
                        "put Service/default/a@a.yaml:2, put Service/default/a2@a.yaml:9, "
                        "put Service/default/b@b/b.yml:1, put Service/ns/c@c.json:1");
    assert_string_equal(take_errors(&v), "");
    assert_int_equal(kube_manifest_dir_problems(v.d), 0);
    assert_int_equal(kube_manifest_dir_rounds(v.d), 1);
    for (size_t i = 0; i < kube_kinds_len; i++)
        assert_true(krt_collection_synced(kube_source_collection(v.src, kube_kinds[i].kind)));
    assert_int_equal(krt_collection_len(kube_source_collection(v.src, "Service")), 4);
    /* Starting twice is refused. */
    assert_int_equal(kube_manifest_dir_start(v.d), KUBE_ESTATE);
    env_dispose(&v);
}

static void test_missing_path_fails_start_and_applies_nothing(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml", SVC("a", 1));
    const char *roots[] = {"a.yaml", "nope"};
    assert_int_equal(open_dir(&v, true, roots, 2), KUBE_ENOENT);
    assert_int_equal(v.updates, 0);
    assert_null(svc(&v, "default/a"));
    assert_false(krt_collection_synced(kube_source_collection(v.src, "Service")));
    assert_int_equal(kube_manifest_dir_rescan(v.d), KUBE_ESTATE);
    env_dispose(&v);

    /* Argument checks. */
    kube_manifest_dir_t *d = (kube_manifest_dir_t *)1;
    const char *p[] = {"x"};
    assert_int_equal(kube_manifest_dir_new(NULL, NULL, p, 1, NULL, &d), KUBE_EINVAL);
    assert_null(d);
    assert_int_equal(kube_manifest_dir_new(NULL, NULL, p, 1, NULL, NULL), KUBE_EINVAL);
    kube_manifest_dir_close(NULL);
}

static void test_rescan_applies_edits_creations_and_deletions(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml", SVC("a", 1));
    put_file(&v, "s/b.yaml", SVC("b", 2));
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    take_changes(&v);

    /* Nothing changed: a round runs, nothing is applied, no callback. */
    assert_int_equal(kube_manifest_dir_rescan(v.d), KUBE_OK);
    assert_int_equal(v.updates, 1);
    assert_int_equal(kube_manifest_dir_rounds(v.d), 2);

    put_file(&v, "a.yaml", SVC("a", 100));
    put_file(&v, "s/new.yaml", SVC("new", 5));
    rm_file(&v, "s/b.yaml");
    assert_int_equal(kube_manifest_dir_rescan(v.d), KUBE_OK);
    assert_int_equal(v.updates, 2);
    assert_string_equal(take_changes(&v), "put Service/default/a@a.yaml:1, "
                                          "put Service/default/new@s/new.yaml:1, "
                                          "delete Service/default/b");
    assert_int_equal(svc_port(&v, "default/a"), 100);
    assert_null(svc(&v, "default/b"));
    /* Removing a whole subdirectory deletes what it held. */
    rm_file(&v, "s/new.yaml");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/s", v.dir);
    assert_int_equal(rmdir(sub), 0);
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "delete Service/default/new");
    env_dispose(&v);
}

static void test_an_object_moving_between_files_is_an_update_or_nothing(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml", SVC("x", 1) "---\n" SVC("why", 1));
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    take_changes(&v);

    /* x moves to z.yaml unchanged: nothing to apply. */
    put_file(&v, "a.yaml", SVC("why", 1));
    put_file(&v, "z.yaml", SVC("x", 1));
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "");
    assert_int_equal(v.updates, 1);
    /* y moves to m.yaml and changes: one put, no delete. */
    rm_file(&v, "a.yaml");
    put_file(&v, "m.yaml", SVC("why", 2));
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "put Service/default/why@m.yaml:1");
    assert_int_equal(svc_port(&v, "default/why"), 2);
    env_dispose(&v);
}

static void test_two_files_defining_one_object_first_in_path_order_wins(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "b.yaml", "---\n" SVC("x", 2));
    put_file(&v, "a.yaml", SVC("x", 1));
    /* The same object spelled with the default namespace is the same object. */
    put_file(&v, "c.yaml",
             "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: "
             "default}\nspec: {port: 3}\n");
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    assert_string_equal(take_changes(&v), "put Service/default/x@a.yaml:1");
    assert_string_equal(take_errors(&v),
                        "b.yaml:2: Service x: also defined at a.yaml:1, which comes first in path "
                        "order and is the one used\n"
                        "c.yaml:1: Service default/x: also defined at a.yaml:1, which comes first "
                        "in path order and is the one used");
    assert_int_equal(svc_port(&v, "default/x"), 1);
    assert_int_equal(kube_manifest_dir_problems(v.d), 2);

    /* Known conflicts are not reported again. */
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_errors(&v), "");
    assert_int_equal(v.updates, 1);

    /* The winner goes: the next file takes over, as an update. */
    rm_file(&v, "a.yaml");
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "put Service/default/x@b.yaml:2");
    assert_int_equal(svc_port(&v, "default/x"), 2);
    assert_int_equal(kube_manifest_dir_problems(v.d), 1);
    rm_file(&v, "c.yaml");
    kube_manifest_dir_rescan(v.d);
    assert_int_equal(kube_manifest_dir_problems(v.d), 0);
    env_dispose(&v);
}

static void test_a_file_that_fails_to_parse_keeps_its_previous_objects(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "app.yaml", SVC("p", 1) "---\n" SVC("q", 1));
    put_file(&v, "broken.yaml", "kind: [\n");
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    assert_string_equal(take_changes(&v), "put Service/default/p@app.yaml:1, "
                                          "put Service/default/q@app.yaml:8");
    assert_string_equal(take_errors(&v), "broken.yaml:2:1: did not find expected node content "
                                         "(while parsing a flow node at line 2)");
    assert_int_equal(kube_manifest_dir_problems(v.d), 1);

    /* A half-written save: p changed, q cut in the middle. p is updated, q is kept. */
    put_file(&v, "app.yaml",
             SVC("p", 2) "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: "
                         "q\nspec:\n  port: [");
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "put Service/default/p@app.yaml:1");
    assert_string_equal(take_errors(&v),
                        "app.yaml:14:1: Service q: did not find expected node content (while "
                        "parsing a flow node at line 14)");
    assert_non_null(svc(&v, "default/q"));
    assert_int_equal(kube_manifest_dir_problems(v.d), 2);

    /* The next clean parse applies the full difference: q was really removed. */
    put_file(&v, "app.yaml", SVC("p", 2));
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "delete Service/default/q");
    assert_string_equal(take_errors(&v), "");
    assert_int_equal(kube_manifest_dir_problems(v.d), 1);

    /* An object error (no name) counts as a failed parse too: nothing is deleted. */
    put_file(&v, "app.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n");
    kube_manifest_dir_rescan(v.d);
    assert_string_equal(take_changes(&v), "");
    assert_string_equal(take_errors(&v), "app.yaml:1:1: Service: metadata must be a mapping, not "
                                         "a null");
    assert_non_null(svc(&v, "default/p"));
    env_dispose(&v);
}

static void test_an_object_defined_twice_in_one_file_keeps_the_first(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml", SVC("x", 1) "---\n" SVC("x", 2) "---\n" SVC("yy", 3));
    const char *roots[] = {"a.yaml"};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    assert_string_equal(take_changes(&v), "put Service/default/x@a.yaml:1, "
                                          "put Service/default/yy@a.yaml:15");
    assert_string_equal(take_errors(&v), "a.yaml:8:1: Service x: defined again in the same file "
                                         "(first at a.yaml:1); the first one is used");
    assert_int_equal(svc_port(&v, "default/x"), 1);
    env_dispose(&v);
}

static void test_unknown_kinds_are_kept_out_of_the_source(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n"
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: e}\n---\n" SVC("s", 1));
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    assert_int_equal(kube_source_unknown_kinds(v.src), 1);
    assert_int_equal(krt_collection_len(kube_source_collection(v.src, "Service")), 1);
    assert_int_equal(v.log_lines, 1); /* one line for Deployment */
    env_dispose(&v);
}

static void test_close_from_the_callback(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml", SVC("a", 1));
    v.close_in_callback = true;
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, true, roots, 1), KUBE_OK);
    assert_null(v.d);
    assert_non_null(svc(&v, "default/a"));
    env_dispose(&v); /* runs the loop until the watch handles are closed and freed */

    env_init(&v);
    put_file(&v, "a.yaml", SVC("a", 1));
    v.close_in_callback = true;
    assert_int_equal(open_dir(&v, false, roots, 1), KUBE_OK);
    assert_null(v.d);
    env_dispose(&v);
}

/* ---------------------------------------------------------------------------------------------
 * Watching.
 * ------------------------------------------------------------------------------------------- */
static void test_watch_applies_creations_edits_renames_and_deletions(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "a.yaml", SVC("a", 1));
    const char *roots[] = {""};
    assert_int_equal(open_dir(&v, true, roots, 1), KUBE_OK);
    assert_string_equal(take_changes(&v), "put Service/default/a@a.yaml:1");

    /* Creation. */
    put_file(&v, "b.yaml", SVC("b", 1));
    wait_for(&v, has_svc, "default/b", "b.yaml created");
    assert_string_equal(take_changes(&v), "put Service/default/b@b.yaml:1");

    /* A burst of writes without the loop running in between: one update, final content. */
    size_t updates = v.updates;
    put_file(&v, "a.yaml", SVC("a", 2));
    put_file(&v, "a.yaml", "apiVersion: v1\n");
    put_file(&v, "a.yaml", SVC("a", 4));
    port_want_t want = {"default/a", 4};
    wait_for(&v, svc_has_port, &want, "a.yaml edited to port 4");
    assert_int_equal(v.updates, updates + 1);
    assert_string_equal(take_changes(&v), "put Service/default/a@a.yaml:1");
    assert_string_equal(take_errors(&v), "");

    /* Rename within the directory: the object stays (no delete is ever applied). */
    mv_file(&v, "b.yaml", "renamed.yaml");
    wait_round(&v, "rename of b.yaml");
    assert_non_null(svc(&v, "default/b"));
    assert_null(strstr(take_changes(&v), "delete"));

    /* A new subdirectory with a file in it. */
    put_file(&v, "sub/c.yaml", SVC("c", 1));
    wait_for(&v, has_svc, "default/c", "sub/c.yaml created");
    /* A file created later in that subdirectory is seen through its own watch. */
    put_file(&v, "sub/d.yaml", SVC("d", 1));
    wait_for(&v, has_svc, "default/d", "sub/d.yaml created");
    take_changes(&v);

    /* Deletion. */
    rm_file(&v, "renamed.yaml");
    wait_for(&v, lacks_svc, "default/b", "renamed.yaml deleted");
    assert_string_equal(take_changes(&v), "delete Service/default/b");

    /* A half-written file keeps its objects until it is whole again. */
    put_file(&v, "sub/c.yaml",
             "apiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  "
             "port: [");
    wait_round(&v, "half-written sub/c.yaml");
    assert_non_null(svc(&v, "default/c"));
    assert_int_equal(kube_manifest_dir_problems(v.d), 1);
    assert_non_null(strstr(take_errors(&v), "sub/c.yaml:7:1: Service c: "));
    put_file(&v, "sub/c.yaml", SVC("c", 9));
    port_want_t want_c = {"default/c", 9};
    wait_for(&v, svc_has_port, &want_c, "sub/c.yaml completed");
    assert_int_equal(kube_manifest_dir_problems(v.d), 0);
    env_dispose(&v);
}

static void test_a_single_file_is_watched_through_its_directory(void **state)
{
    (void)state;
    env_t v;
    env_init(&v);
    put_file(&v, "only.yaml", SVC("o", 1));
    put_file(&v, "other.yaml", SVC("other", 1));
    const char *roots[] = {"only.yaml"};
    assert_int_equal(open_dir(&v, true, roots, 1), KUBE_OK);
    assert_string_equal(take_changes(&v), "put Service/default/o@only.yaml:1");

    /* An editor's atomic save: write a temporary file, rename it over the original. */
    put_file(&v, ".only.yaml.swp", SVC("o", 2));
    mv_file(&v, ".only.yaml.swp", "only.yaml");
    port_want_t want = {"default/o", 2};
    wait_for(&v, svc_has_port, &want, "atomic save of only.yaml");
    assert_string_equal(take_changes(&v), "put Service/default/o@only.yaml:1");
    /* Other files of the directory are not read. */
    assert_null(svc(&v, "default/other"));
    /* Deleting the file deletes its objects. */
    rm_file(&v, "only.yaml");
    wait_for(&v, lacks_svc, "default/o", "only.yaml deleted");
    env_dispose(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_load_reads_the_tree_in_path_order),
        cmocka_unit_test(test_missing_path_fails_start_and_applies_nothing),
        cmocka_unit_test(test_rescan_applies_edits_creations_and_deletions),
        cmocka_unit_test(test_an_object_moving_between_files_is_an_update_or_nothing),
        cmocka_unit_test(test_two_files_defining_one_object_first_in_path_order_wins),
        cmocka_unit_test(test_a_file_that_fails_to_parse_keeps_its_previous_objects),
        cmocka_unit_test(test_an_object_defined_twice_in_one_file_keeps_the_first),
        cmocka_unit_test(test_unknown_kinds_are_kept_out_of_the_source),
        cmocka_unit_test(test_close_from_the_callback),
        cmocka_unit_test(test_watch_applies_creations_edits_renames_and_deletions),
        cmocka_unit_test(test_a_single_file_is_watched_through_its_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
