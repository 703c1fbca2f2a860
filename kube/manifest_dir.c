/*
 * The manifest folder adapter (libuv): files on disk → kube_source_apply(), now and on every edit.
 *
 * Key decision: a round is level-triggered. Whatever the events said, a round walks the whole
 * tree, re-reads the files whose stat signature changed (or that an event named), recomputes the
 * set of objects all files define, and applies its difference with the set applied last time.
 * Events only decide WHEN a round runs (debounced by a settle timer). So lost, merged or
 * reordered inotify events, renames across directories and editors' save dances cannot leave the
 * source out of step with the disk; the cost is a walk (readdir + stat) per settled edit, which is
 * small next to parsing. The alternative rejected: applying each event as it comes
 * (edge-triggered), which must get every rename pairing and every partial write right.
 *
 * INVARIANTS (D1, D3 and D4 are checked by check_invariants() after every round in debug builds;
 * D2 holds by construction: the applied map is replaced by the desired map right after the
 * difference between them was applied)
 *  D1 files[] is sorted by path, without duplicates
 *  D2 applied holds exactly what the source was last given by us: identity → object
 *  D3 each file's objs[] has distinct identities
 *  D4 after a round, every watch is on a directory of the last walk (live)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uthash.h>

#include "kube/manifest_dir.h"

#define DIRTY_MAX 4096

/* ---------------------------------------------------------------------------------------------
 * Types.
 * ------------------------------------------------------------------------------------------- */
typedef struct sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    long long mtime_s, mtime_ns, ctime_s, ctime_ns;
} sig_t_;

typedef struct mobj {
    char *id;     /* identity (kube_object_identity) */
    json_t *obj;  /* one reference */
    char *origin; /* "path:line" */
} mobj_t;

typedef struct mfile {
    char *path;
    bool have_sig;
    sig_t_ sig;
    mobj_t *objs;
    size_t nobjs;
    size_t problems; /* errors at the last read (parse, read, duplicates) */
} mfile_t;

typedef struct entry {
    char *id;
    json_t *obj;  /* one reference */
    char *origin; /* copy */
    UT_hash_handle hh;
} entry_t;

typedef struct strset {
    char *s;
    UT_hash_handle hh;
} strset_t;

typedef struct watch {
    uv_fs_event_t h;
    kube_manifest_dir_t *d;
    char *dir;
    bool live;
    UT_hash_handle hh;
} watch_t;

typedef struct strvec {
    char **v;
    size_t len, cap;
} strvec_t;

struct kube_manifest_dir {
    uv_loop_t *loop;
    kube_source_t *src;
    char **roots;
    size_t nroots;
    kube_manifest_dir_options_t opts;

    mfile_t *files; /* D1 */
    size_t nfiles;
    entry_t *applied;    /* D2 */
    strset_t *conflicts; /* "identity\npath" of the losers reported in the last round */
    size_t nconflicts;

    /* watching */
    bool started, closing, in_round, free_after_round;
    watch_t *watches;
    uv_timer_t timer;
    bool timer_init;
    size_t open_handles;
    bool pending;
    uint64_t first_event;
    strset_t *dirty;
    size_t ndirty;
    bool all_dirty;
    size_t rounds;
};

/* ---------------------------------------------------------------------------------------------
 * Helpers.
 * ------------------------------------------------------------------------------------------- */
static char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool strvec_push(strvec_t *v, char *s)
{
    if (!s)
        return false;
    if (v->len == v->cap) {
        size_t n = v->cap ? v->cap * 2 : 16;
        char **q = realloc(v->v, n * sizeof *q);
        if (!q) {
            free(s);
            return false;
        }
        v->v = q;
        v->cap = n;
    }
    v->v[v->len++] = s;
    return true;
}

static void strvec_free(strvec_t *v)
{
    for (size_t i = 0; i < v->len; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strset_clear(strset_t **set)
{
    strset_t *e, *tmp;
    HASH_ITER(hh, *set, e, tmp)
    {
        HASH_DEL(*set, e);
        free(e->s);
        free(e);
    }
}

static bool strset_has(strset_t *set, const char *s)
{
    strset_t *e;
    HASH_FIND_STR(set, s, e);
    return e != NULL;
}

static bool strset_add(strset_t **set, const char *s)
{
    if (strset_has(*set, s))
        return true;
    strset_t *e = calloc(1, sizeof *e);
    char *dup = e ? strdup(s) : NULL;
    if (!dup) {
        free(e);
        return false;
    }
    e->s = dup;
    HASH_ADD_KEYPTR(hh, *set, e->s, strlen(e->s), e);
    return true;
}

static void default_log(int level, const char *msg, void *ud)
{
    (void)ud;
    if (level < KRT_LOG_INFO)
        return;
    fprintf(stderr, "krtgate: %s: %s\n", level >= KRT_LOG_ERROR ? "error" : "info", msg);
}

static void note(kube_manifest_dir_t *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(kube_manifest_dir_t *d, int level, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    d->opts.log(level, buf, d->opts.log_ud);
}

/* Records a problem of this round: logged now, handed to on_update later. */
static void problem(kube_manifest_dir_t *d, strvec_t *errs, char *msg)
{
    if (!msg)
        return;
    d->opts.log(KRT_LOG_ERROR, msg, d->opts.log_ud);
    strvec_push(errs, msg);
}

static void mobj_free(mobj_t *o)
{
    free(o->id);
    json_decref(o->obj);
    free(o->origin);
}

static void mfile_dispose(mfile_t *f)
{
    for (size_t i = 0; i < f->nobjs; i++)
        mobj_free(&f->objs[i]);
    free(f->objs);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static void entries_free(entry_t **map)
{
    entry_t *e, *tmp;
    HASH_ITER(hh, *map, e, tmp)
    {
        HASH_DEL(*map, e);
        free(e->id);
        free(e->origin);
        json_decref(e->obj);
        free(e);
    }
}

static void sig_of(const struct stat *st, sig_t_ *s)
{
    memset(s, 0, sizeof *s);
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime_s = (long long)st->st_mtim.tv_sec;
    s->mtime_ns = st->st_mtim.tv_nsec;
    s->ctime_s = (long long)st->st_ctim.tv_sec;
    s->ctime_ns = st->st_ctim.tv_nsec;
}

static bool has_manifest_ext(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* ---------------------------------------------------------------------------------------------
 * Walking.
 * ------------------------------------------------------------------------------------------- */
typedef struct walk {
    kube_manifest_dir_t *d;
    strvec_t files, dirs;
    strvec_t *errs;
    struct {
        dev_t dev;
        ino_t ino;
    } stack[KUBE_MANIFEST_DIR_MAX_DEPTH + 1];
    size_t depth;
    bool too_many;
    bool oom;
} walk_t;

static void walk_dir(walk_t *w, const char *dir, const struct stat *st)
{
    for (size_t i = 0; i < w->depth; i++)
        if (w->stack[i].dev == st->st_dev && w->stack[i].ino == st->st_ino)
            return; /* a symlink loop: already being walked */
    if (w->depth >= KUBE_MANIFEST_DIR_MAX_DEPTH) {
        problem(w->d, w->errs,
                xprintf("%s: directories nested deeper than %d levels are not read", dir,
                        KUBE_MANIFEST_DIR_MAX_DEPTH));
        return;
    }
    if (!strvec_push(&w->dirs, strdup(dir))) {
        w->oom = true;
        return;
    }
    DIR *dh = opendir(dir);
    if (!dh) {
        problem(w->d, w->errs, xprintf("%s: cannot open directory: %s", dir, strerror(errno)));
        return;
    }
    strvec_t names = {0};
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        if (!strvec_push(&names, strdup(de->d_name))) {
            w->oom = true;
            break;
        }
    }
    closedir(dh);
    if (names.len > 1)
        qsort(names.v, names.len, sizeof *names.v, cmp_str);
    w->stack[w->depth].dev = st->st_dev;
    w->stack[w->depth].ino = st->st_ino;
    w->depth++;
    for (size_t i = 0; i < names.len && !w->oom; i++) {
        char *full = xprintf("%s/%s", dir, names.v[i]);
        if (!full) {
            w->oom = true;
            break;
        }
        struct stat cst;
        if (stat(full, &cst) != 0) {
            free(full); /* vanished, or a dangling symlink: not a manifest */
            continue;
        }
        if (S_ISDIR(cst.st_mode)) {
            walk_dir(w, full, &cst);
            free(full);
        } else if (S_ISREG(cst.st_mode) && has_manifest_ext(names.v[i])) {
            if (w->files.len >= KUBE_MANIFEST_DIR_MAX_FILES) {
                if (!w->too_many)
                    problem(w->d, w->errs,
                            xprintf("%s: more than %zu manifest files: the rest are not read", dir,
                                    KUBE_MANIFEST_DIR_MAX_FILES));
                w->too_many = true;
                free(full);
            } else if (!strvec_push(&w->files, full)) {
                w->oom = true;
            }
        } else {
            free(full);
        }
    }
    w->depth--;
    strvec_free(&names);
}

/* Walks every root. A missing root is a problem (or, with |missing|, counted there). */
static void walk_roots(walk_t *w, size_t *missing)
{
    kube_manifest_dir_t *d = w->d;
    for (size_t i = 0; i < d->nroots && !w->oom; i++) {
        struct stat st;
        if (stat(d->roots[i], &st) != 0) {
            if (missing)
                (*missing)++;
            problem(d, w->errs, xprintf("%s: %s", d->roots[i], strerror(errno)));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk_dir(w, d->roots[i], &st);
        } else {
            /* A file named explicitly is read whatever its name; its directory is watched. */
            if (!strvec_push(&w->files, strdup(d->roots[i]))) {
                w->oom = true;
                break;
            }
            char *parent = strdup(d->roots[i]);
            char *slash = parent ? strrchr(parent, '/') : NULL;
            if (slash == parent && parent)
                parent[1] = '\0';
            else if (slash)
                *slash = '\0';
            else if (parent) {
                free(parent);
                parent = strdup(".");
            }
            if (!strvec_push(&w->dirs, parent))
                w->oom = true;
        }
    }
    if (w->files.len > 1)
        qsort(w->files.v, w->files.len, sizeof *w->files.v, cmp_str);
    /* Drop duplicates (a file given twice, or inside a directory also given). */
    size_t k = 0;
    for (size_t i = 0; i < w->files.len; i++) {
        if (k && strcmp(w->files.v[k - 1], w->files.v[i]) == 0)
            free(w->files.v[i]);
        else
            w->files.v[k++] = w->files.v[i];
    }
    w->files.len = k;
}

/* ---------------------------------------------------------------------------------------------
 * Watching.
 * ------------------------------------------------------------------------------------------- */
static void dir_free_now(kube_manifest_dir_t *d);
static int run_round(kube_manifest_dir_t *d, bool initial);
static void finish_call(kube_manifest_dir_t *d);

static void on_handle_closed(uv_handle_t *h)
{
    kube_manifest_dir_t *d;
    if (h->type == UV_TIMER) {
        d = h->data;
    } else {
        watch_t *w = h->data;
        d = w->d;
        free(w->dir);
        free(w);
    }
    if (--d->open_handles == 0 && d->closing)
        dir_free_now(d);
}

static void watch_close(kube_manifest_dir_t *d, watch_t *w)
{
    HASH_DEL(d->watches, w);
    uv_fs_event_stop(&w->h);
    uv_close((uv_handle_t *)&w->h, on_handle_closed);
}

static void mark_dirty(kube_manifest_dir_t *d, const char *dir, const char *name)
{
    if (d->all_dirty)
        return;
    if (!name || d->ndirty >= DIRTY_MAX) {
        d->all_dirty = true;
        return;
    }
    char *p = xprintf("%s/%s", dir, name);
    if (!p || !strset_add(&d->dirty, p))
        d->all_dirty = true;
    else
        d->ndirty = HASH_COUNT(d->dirty);
    free(p);
}

static void on_timer(uv_timer_t *t)
{
    kube_manifest_dir_t *d = t->data;
    d->pending = false;
    if (!d->closing) {
        run_round(d, false);
        finish_call(d);
    }
}

static void schedule(kube_manifest_dir_t *d)
{
    uint64_t now = uv_now(d->loop);
    if (!d->pending) {
        d->pending = true;
        d->first_event = now;
    }
    uint64_t due = now + d->opts.settle_ms;
    uint64_t cap = d->first_event + d->opts.max_delay_ms;
    if (due > cap)
        due = cap;
    uv_timer_start(&d->timer, on_timer, due > now ? due - now : 0, 0);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    watch_t *w = h->data;
    kube_manifest_dir_t *d = w->d;
    if (d->closing)
        return;
    if (status < 0) {
        note(d, KRT_LOG_ERROR, "%s: watch error: %s", w->dir, uv_strerror(status));
        mark_dirty(d, w->dir, NULL);
    } else {
        mark_dirty(d, w->dir, filename);
    }
    schedule(d);
}

/* Starts watches for |dirs| not yet watched and stops those for directories gone.
 * Returns: how many watches were started (so the caller walks again to catch files created
 * before they were), or a negative error when one could not start. */
static int sync_watches(kube_manifest_dir_t *d, const strvec_t *dirs, strvec_t *errs)
{
    watch_t *w, *tmp;
    HASH_ITER(hh, d->watches, w, tmp)
    w->live = false;
    int started = 0, err = 0;
    for (size_t i = 0; i < dirs->len; i++) {
        HASH_FIND_STR(d->watches, dirs->v[i], w);
        if (w) {
            w->live = true;
            continue;
        }
        w = calloc(1, sizeof *w);
        char *dir = w ? strdup(dirs->v[i]) : NULL;
        if (!dir) {
            free(w);
            return KUBE_ENOMEM;
        }
        w->d = d;
        w->dir = dir;
        w->live = true;
        int rc = uv_fs_event_init(d->loop, &w->h);
        if (rc == 0) {
            w->h.data = w;
            d->open_handles++;
            HASH_ADD_KEYPTR(hh, d->watches, w->dir, strlen(w->dir), w);
            rc = uv_fs_event_start(&w->h, on_fs_event, w->dir, 0);
            if (rc != 0) {
                problem(d, errs, xprintf("%s: cannot watch: %s", dirs->v[i], uv_strerror(rc)));
                watch_close(d, w);
                err = KUBE_EUV;
                continue;
            }
            started++;
        } else {
            free(w->dir);
            free(w);
            problem(d, errs, xprintf("%s: cannot watch: %s", dirs->v[i], uv_strerror(rc)));
            err = KUBE_EUV;
        }
    }
    HASH_ITER(hh, d->watches, w, tmp)
    if (!w->live)
        watch_close(d, w);
    return err ? err : started;
}

/* ---------------------------------------------------------------------------------------------
 * Reading files.
 * ------------------------------------------------------------------------------------------- */
/* Reads |path| (at most |max| bytes). Returns 0 with *buf (malloc'd) and *len; -1 with errno set;
 * -2 when the file is larger than |max|. */
static int read_all(const char *path, size_t max, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(b);
                close(fd);
                return -2;
            }
            size_t nc = cap * 2;
            char *q = realloc(b, nc);
            if (!q) {
                free(b);
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            b = q;
            cap = nc;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(b);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(b);
        return -2;
    }
    *buf = b;
    *len = n;
    return 0;
}

static bool push_obj(mobj_t **v, size_t *n, size_t *cap, mobj_t o)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        mobj_t *q = realloc(*v, nc * sizeof *q);
        if (!q)
            return false;
        *v = q;
        *cap = nc;
    }
    (*v)[(*n)++] = o;
    return true;
}

/* Re-reads file |f|: its objects become what it defines now; after a failed read or parse, the
 * objects it defined before and does not define now are kept. Returns false on OOM. */
static bool load_file(kube_manifest_dir_t *d, mfile_t *f, strvec_t *errs)
{
    const kube_manifest_limits_t *lim =
        d->opts.limits ? d->opts.limits : &kube_manifest_default_limits;
    mobj_t *objs = NULL;
    size_t n = 0, cap = 0, problems = 0;
    bool failed = false, oom = false;
    char *buf = NULL;
    size_t len = 0;
    int rc = read_all(f->path, lim->max_input, &buf, &len);
    if (rc == -2) {
        problem(d, errs, xprintf("%s: larger than %zu bytes: not read", f->path, lim->max_input));
        failed = true;
    } else if (rc < 0) {
        problem(d, errs, xprintf("%s: cannot read: %s", f->path, strerror(errno)));
        failed = true;
    } else {
        kube_manifest_t m;
        kube_manifest_init(&m);
        if (kube_manifest_parse(&m, f->path, buf, len, lim) != KUBE_OK) {
            problem(d, errs, xprintf("%s: out of memory while parsing", f->path));
            failed = true;
        }
        for (size_t i = 0; i < m.nerrors; i++) {
            problem(d, errs, m.errors[i].message);
            m.errors[i].message = NULL;
            failed = true;
        }
        if (m.errors_dropped) {
            problem(d, errs, xprintf("%s: %zu more errors not shown", f->path, m.errors_dropped));
            failed = true;
        }
        problems += m.nerrors + (m.errors_dropped ? 1 : 0);
        entry_t *seen = NULL; /* identities of this read, for duplicates (D3) */
        for (size_t i = 0; i < m.nitems && !oom; i++) {
            int err = 0;
            char *id = kube_object_identity(m.items[i].object, &err);
            if (!id) {
                oom = err == KUBE_ENOMEM;
                continue; /* the parser guarantees what identity needs (M2) */
            }
            entry_t *e;
            HASH_FIND_STR(seen, id, e);
            if (e) {
                char desc[512];
                kube_object_describe(m.items[i].object, desc, sizeof desc);
                problem(d, errs,
                        xprintf("%s:%u:%u: %s: defined again in the same file (first at %s); the "
                                "first one is used",
                                f->path, m.items[i].line, m.items[i].column, desc, e->origin));
                problems++;
                free(id);
                continue;
            }
            char *origin = xprintf("%s:%u", f->path, m.items[i].line);
            e = calloc(1, sizeof *e);
            if (!origin || !e ||
                !push_obj(&objs, &n, &cap, (mobj_t){id, m.items[i].object, origin})) {
                free(id);
                free(origin);
                free(e);
                oom = true;
                break;
            }
            json_incref(m.items[i].object);
            e->id = objs[n - 1].id; /* borrowed */
            e->origin = objs[n - 1].origin;
            HASH_ADD_KEYPTR(hh, seen, e->id, strlen(e->id), e);
        }
        if (failed && f->nobjs && !oom) {
            /* Keep what the file defined before and does not define now. Room is made first, so
             * nothing is moved unless everything can be. */
            size_t kept = 0;
            if (cap < n + f->nobjs) {
                mobj_t *q = realloc(objs, (n + f->nobjs) * sizeof *q);
                if (q) {
                    objs = q;
                    cap = n + f->nobjs;
                } else {
                    oom = true;
                }
            }
            for (size_t i = 0; i < f->nobjs && !oom; i++) {
                entry_t *e;
                HASH_FIND_STR(seen, f->objs[i].id, e);
                if (e)
                    continue;
                objs[n++] = f->objs[i];
                memset(&f->objs[i], 0, sizeof f->objs[i]); /* moved */
                kept++;
            }
            if (kept)
                note(d, KRT_LOG_INFO,
                     "%s: keeping %zu object(s) from its last good read until it "
                     "parses cleanly",
                     f->path, kept);
        }
        entry_t *e, *tmp;
        HASH_ITER(hh, seen, e, tmp)
        {
            HASH_DEL(seen, e);
            free(e);
        }
        kube_manifest_dispose(&m);
        free(buf);
    }
    if (failed && rc != 0) {
        /* Nothing was read: the file keeps all its objects. */
        f->problems = 1;
        return true;
    }
    if (oom) {
        for (size_t i = 0; i < n; i++)
            mobj_free(&objs[i]);
        free(objs);
        return false;
    }
    for (size_t i = 0; i < f->nobjs; i++)
        mobj_free(&f->objs[i]);
    free(f->objs);
    f->objs = objs;
    f->nobjs = n;
    f->problems = problems + (failed && problems == 0 ? 1 : 0);
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Rounds.
 * ------------------------------------------------------------------------------------------- */
static bool needs_read(kube_manifest_dir_t *d, const mfile_t *f, const struct stat *st,
                       bool stat_ok)
{
    if (!f->have_sig || !stat_ok || d->all_dirty || strset_has(d->dirty, f->path))
        return true;
    sig_t_ s;
    sig_of(st, &s);
    return memcmp(&s, &f->sig, sizeof s) != 0;
}

static void check_invariants(const kube_manifest_dir_t *d)
{
#ifndef NDEBUG
    for (size_t i = 1; i < d->nfiles; i++)
        if (strcmp(d->files[i - 1].path, d->files[i].path) >= 0)
            abort(); /* D1 */
    for (size_t i = 0; i < d->nfiles; i++) {
        const mfile_t *f = &d->files[i];
        for (size_t a = 0; a < f->nobjs; a++)
            for (size_t b = 0; b < a && f->nobjs <= 256; b++)
                if (strcmp(f->objs[a].id, f->objs[b].id) == 0)
                    abort(); /* D3 (checked for files of up to 256 objects) */
    }
    watch_t *w, *tmp;
    HASH_ITER(hh, d->watches, w, tmp)
    if (!w->live)
        abort(); /* D4 */
#else
    (void)d;
#endif
}

static int run_round(kube_manifest_dir_t *d, bool initial)
{
    strvec_t errs = {0};
    kube_change_t *changes = NULL;
    size_t nchanges = 0;
    entry_t *desired = NULL;
    strset_t *conflicts = NULL;
    int rc = KUBE_OK;
    d->in_round = true;

    /* 1. Walk (again while new watches start, so nothing created before them is missed). */
    walk_t w;
    size_t missing = 0;
    for (int pass = 0;; pass++) {
        memset(&w, 0, sizeof w);
        w.d = d;
        w.errs = &errs;
        missing = 0;
        walk_roots(&w, &missing);
        if (w.oom) {
            rc = KUBE_ENOMEM;
            goto done_walk;
        }
        if (initial && missing) {
            rc = KUBE_ENOENT;
            goto done_walk;
        }
        if (!d->opts.watch || d->closing)
            break;
        int started = sync_watches(d, &w.dirs, &errs);
        if (started == KUBE_ENOMEM) {
            rc = started;
            goto done_walk;
        }
        if (started < 0)
            rc = started; /* KUBE_EUV: reported; the files are still applied */
        if (started <= 0 || pass == 3)
            break;
        strvec_free(&w.files);
        strvec_free(&w.dirs);
    }

    /* 2. Files: keep, read or drop. */
    mfile_t *nf = calloc(w.files.len ? w.files.len : 1, sizeof *nf);
    if (!nf) {
        rc = KUBE_ENOMEM;
        goto done_walk;
    }
    /* Both lists are sorted (D1): a merge pairs each path with its previous state. */
    size_t j = 0;
    for (size_t i = 0; i < w.files.len; i++) {
        while (j < d->nfiles && strcmp(d->files[j].path, w.files.v[i]) < 0)
            j++; /* gone from disk: disposed below */
        if (j < d->nfiles && strcmp(d->files[j].path, w.files.v[i]) == 0) {
            nf[i] = d->files[j];
            memset(&d->files[j], 0, sizeof d->files[j]);
            j++;
        } else {
            nf[i].path = w.files.v[i];
            w.files.v[i] = NULL;
        }
        struct stat st;
        bool stat_ok = stat(nf[i].path, &st) == 0;
        if (needs_read(d, &nf[i], &st, stat_ok)) {
            if (!load_file(d, &nf[i], &errs))
                rc = KUBE_ENOMEM;
            if (stat_ok) {
                sig_of(&st, &nf[i].sig);
                nf[i].have_sig = true;
            } else {
                nf[i].have_sig = false;
            }
        }
    }
    for (size_t i = 0; i < d->nfiles; i++)
        mfile_dispose(&d->files[i]); /* files gone from disk (moved ones were zeroed) */
    free(d->files);
    d->files = nf;
    d->nfiles = w.files.len;
    strset_clear(&d->dirty);
    d->ndirty = 0;
    d->all_dirty = false;

    /* 3. Desired state: first definition in path order wins. */
    size_t nconf = 0;
    for (size_t i = 0; i < d->nfiles && rc != KUBE_ENOMEM; i++) {
        mfile_t *f = &d->files[i];
        for (size_t k = 0; k < f->nobjs; k++) {
            mobj_t *o = &f->objs[k];
            entry_t *e;
            HASH_FIND_STR(desired, o->id, e);
            if (e) {
                char *ck = xprintf("%s\n%s", o->id, o->origin);
                nconf++;
                if (ck && !strset_has(d->conflicts, ck)) {
                    char desc[512];
                    kube_object_describe(o->obj, desc, sizeof desc);
                    problem(d, &errs,
                            xprintf("%s: %s: also defined at %s, which comes first in "
                                    "path order and is the one used",
                                    o->origin, desc, e->origin));
                }
                if (!ck || !strset_add(&conflicts, ck))
                    rc = KUBE_ENOMEM;
                free(ck);
                continue;
            }
            e = calloc(1, sizeof *e);
            if (!e || !(e->id = strdup(o->id)) || !(e->origin = strdup(o->origin))) {
                if (e) {
                    free(e->id);
                    free(e);
                }
                rc = KUBE_ENOMEM;
                break;
            }
            e->obj = json_incref(o->obj);
            HASH_ADD_KEYPTR(hh, desired, e->id, strlen(e->id), e);
        }
    }
    if (rc == KUBE_ENOMEM)
        goto done;

    /* 4. Difference with what was applied. */
    size_t cap = HASH_COUNT(desired) + HASH_COUNT(d->applied) + 1;
    changes = calloc(cap, sizeof *changes);
    if (!changes) {
        rc = KUBE_ENOMEM;
        goto done;
    }
    entry_t *e, *tmp, *a;
    HASH_ITER(hh, desired, e, tmp)
    {
        HASH_FIND_STR(d->applied, e->id, a);
        if (a && (a->obj == e->obj || json_equal(a->obj, e->obj)))
            continue;
        changes[nchanges++] = (kube_change_t){KUBE_CHANGE_PUT, e->obj, NULL, e->origin, false};
    }
    HASH_ITER(hh, d->applied, a, tmp)
    {
        HASH_FIND_STR(desired, a->id, e);
        if (!e)
            changes[nchanges++] =
                (kube_change_t){KUBE_CHANGE_DELETE, a->obj, NULL, a->origin, false};
    }
    kube_source_apply(d->src, changes, nchanges); /* rejections are logged by the source */
    if (initial) {
        kube_change_t synced = {KUBE_CHANGE_SYNCED, NULL, NULL, NULL, false};
        kube_source_apply(d->src, &synced, 1);
    }

    /* 5. What was applied is now the desired state (the deleted objects stay alive until the
     * callback returns: |changes| points at them). */
    entry_t *old_applied = d->applied;
    d->applied = desired;
    desired = NULL;
    strset_clear(&d->conflicts);
    d->conflicts = conflicts;
    d->nconflicts = nconf;
    conflicts = NULL;
    d->rounds++;
    check_invariants(d);

    if (d->opts.on_update && (initial || nchanges || errs.len)) {
        kube_manifest_dir_update_t u = {changes, nchanges, (const char *const *)errs.v, errs.len,
                                        initial};
        d->opts.on_update(d, &u, d->opts.ud);
    }
    entries_free(&old_applied);
done:
    entries_free(&desired);
    strset_clear(&conflicts);
    free(changes);
done_walk:
    strvec_free(&w.files);
    strvec_free(&w.dirs);
    strvec_free(&errs);
    d->in_round = false;
    return rc;
}

/* Ends a public call that ran a round: frees the adapter if on_update closed it meanwhile. */
static void finish_call(kube_manifest_dir_t *d)
{
    if (d->free_after_round) {
        d->free_after_round = false;
        dir_free_now(d);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Public.
 * ------------------------------------------------------------------------------------------- */
int kube_manifest_dir_new(uv_loop_t *loop, kube_source_t *src, const char *const *paths,
                          size_t npaths, const kube_manifest_dir_options_t *opts,
                          kube_manifest_dir_t **out)
{
    if (!out)
        return KUBE_EINVAL;
    *out = NULL;
    if (!loop || !src || !paths || npaths == 0)
        return KUBE_EINVAL;
    for (size_t i = 0; i < npaths; i++)
        if (!paths[i] || !*paths[i])
            return KUBE_EINVAL;
    kube_manifest_dir_t *d = calloc(1, sizeof *d);
    if (!d)
        return KUBE_ENOMEM;
    d->loop = loop;
    d->src = src;
    if (opts)
        d->opts = *opts;
    if (!d->opts.settle_ms)
        d->opts.settle_ms = 100;
    if (!d->opts.max_delay_ms)
        d->opts.max_delay_ms = 1000;
    if (d->opts.max_delay_ms < d->opts.settle_ms)
        d->opts.max_delay_ms = d->opts.settle_ms;
    if (!d->opts.log) {
        d->opts.log = default_log;
        d->opts.log_ud = NULL;
    }
    d->roots = calloc(npaths, sizeof *d->roots);
    if (!d->roots) {
        free(d);
        return KUBE_ENOMEM;
    }
    d->nroots = npaths;
    for (size_t i = 0; i < npaths; i++) {
        char *p = strdup(paths[i]);
        if (!p) {
            dir_free_now(d);
            return KUBE_ENOMEM;
        }
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            p[--n] = '\0'; /* "dir/" and "dir" are one root */
        d->roots[i] = p;
    }
    *out = d;
    return KUBE_OK;
}

int kube_manifest_dir_start(kube_manifest_dir_t *d)
{
    if (!d)
        return KUBE_EINVAL;
    if (d->started || d->closing)
        return KUBE_ESTATE;
    if (d->opts.watch && !d->timer_init) {
        int rc = uv_timer_init(d->loop, &d->timer);
        if (rc != 0)
            return KUBE_EUV;
        d->timer.data = d;
        d->timer_init = true;
        d->open_handles++;
    }
    int rc = run_round(d, true);
    if (rc != KUBE_ENOENT && rc != KUBE_ENOMEM)
        d->started = true; /* otherwise nothing was applied and start may be tried again */
    finish_call(d);
    return rc;
}

int kube_manifest_dir_rescan(kube_manifest_dir_t *d)
{
    if (!d)
        return KUBE_EINVAL;
    if (!d->started || d->closing || d->in_round)
        return KUBE_ESTATE;
    int rc = run_round(d, false);
    finish_call(d);
    return rc == KUBE_ENOMEM ? rc : KUBE_OK;
}

size_t kube_manifest_dir_problems(const kube_manifest_dir_t *d)
{
    if (!d)
        return 0;
    size_t n = d->nconflicts;
    for (size_t i = 0; i < d->nfiles; i++)
        n += d->files[i].problems;
    return n;
}

size_t kube_manifest_dir_rounds(const kube_manifest_dir_t *d)
{
    return d ? d->rounds : 0;
}

static void dir_free_now(kube_manifest_dir_t *d)
{
    if (d->in_round) {
        d->free_after_round = true;
        return;
    }
    for (size_t i = 0; i < d->nfiles; i++)
        mfile_dispose(&d->files[i]);
    free(d->files);
    entries_free(&d->applied);
    strset_clear(&d->conflicts);
    strset_clear(&d->dirty);
    for (size_t i = 0; i < d->nroots; i++)
        free(d->roots ? d->roots[i] : NULL);
    free(d->roots);
    free(d);
}

void kube_manifest_dir_close(kube_manifest_dir_t *d)
{
    if (!d || d->closing)
        return;
    d->closing = true;
    watch_t *w, *tmp;
    HASH_ITER(hh, d->watches, w, tmp)
    watch_close(d, w);
    if (d->timer_init) {
        uv_timer_stop(&d->timer);
        uv_close((uv_handle_t *)&d->timer, on_handle_closed);
        d->timer_init = false;
    }
    if (d->open_handles == 0)
        dir_free_now(d);
}
