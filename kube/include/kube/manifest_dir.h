/*
 * The manifest folder: files and directories of YAML/JSON manifests loaded into a kube_source_t,
 * and, with watch on, kept in step with the disk (libuv fs events).
 *
 * What is read: each path given is a file (read whatever its name) or a directory, walked
 * recursively for *.yaml, *.yml and *.json; names starting with '.' are skipped (editor files,
 * and the "..data" links of a mounted ConfigMap, whose target files are read through their
 * visible symlinks). Symlinks are followed; directory loops are not. All files, from all paths,
 * are processed in bytewise path order.
 *
 * What is applied: the adapter knows which objects each file defined at its last good read and
 * feeds the source only the difference between the whole set before and after (an object moved to
 * another file is an update, or nothing when unchanged). When two files define the same object, the
 * first in path order wins and the other is reported with both places. A file that fails to read
 * or parse (a half-written save, a typo) keeps its previous objects — only objects it now defines
 * successfully are updated, none is deleted — and its errors are reported; the next clean read
 * applies the full difference.
 *
 * Watching: every directory walked gets a uv_fs_event_t (Linux inotify is not recursive), and a
 * file given by name is watched through its parent directory (editors replace files by rename).
 * Events only schedule a rescan: after `settle_ms` without events (default 100 ms), or at most
 * `max_delay_ms` after the first one (default 1 s) under a steady stream, the tree is walked again,
 * changed files are re-read, and one change set is applied — so an editor's save sequence gives one
 * update. Reads are synchronous: manifests are small local files, and a control plane between edits
 * has nothing else to do.
 *
 * LIMITS: KUBE_MANIFEST_DIR_MAX_FILES files and KUBE_MANIFEST_DIR_MAX_DEPTH directory levels per
 * walk; each file is bounded by the parser's limits (kube/manifest.h).
 */
#ifndef KUBE_MANIFEST_DIR_H
#define KUBE_MANIFEST_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "krt/krt.h"
#include "kube/kube.h"
#include "kube/manifest.h"
#include "kube/source.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KUBE_MANIFEST_DIR_MAX_FILES ((size_t)10000)
#define KUBE_MANIFEST_DIR_MAX_DEPTH 32

typedef struct kube_manifest_dir kube_manifest_dir_t;

/* What one round (initial load or a settled batch of edits) did. Everything is borrowed for the
 * duration of the callback. */
typedef struct kube_manifest_dir_update {
    const kube_change_t *changes; /* puts and deletes applied to the source, in that order */
    size_t nchanges;
    const char *const *errors; /* problems found in this round, "FILE:LINE:COL: ..." */
    size_t nerrors;
    bool initial; /* the initial load: the source's collections were also marked synced */
} kube_manifest_dir_update_t;

/* Called after each round that applied changes or found problems, and always after the initial
 * load: the place to flush the krt engine. May call kube_manifest_dir_close(). */
typedef void (*kube_manifest_dir_cb)(kube_manifest_dir_t *d, const kube_manifest_dir_update_t *u,
                                     void *ud);

typedef struct kube_manifest_dir_options {
    bool watch;            /* keep watching after the initial load */
    unsigned settle_ms;    /* quiet time before a rescan; 0 means 100 */
    unsigned max_delay_ms; /* longest wait after a first event; 0 means 1000 */
    kube_manifest_dir_cb on_update;
    void *ud;       /* kept */
    krt_log_cb log; /* problems (KRT_LOG_ERROR) and notes (KRT_LOG_INFO); NULL: stderr */
    void *log_ud;   /* kept */
    const kube_manifest_limits_t *limits; /* NULL: the parser's defaults; kept */
} kube_manifest_dir_options_t;

/* Prepares (reads nothing yet) an adapter for |paths| feeding |src|.
 * Keeps loop and src (both must outlive the adapter). Borrows paths (copied) and opts (copied).
 * Returns: KUBE_OK with *out set (owned by caller: kube_manifest_dir_close), KUBE_EINVAL (no
 * paths, NULL arguments) or KUBE_ENOMEM. */
int kube_manifest_dir_new(uv_loop_t *loop, kube_source_t *src, const char *const *paths,
                          size_t npaths, const kube_manifest_dir_options_t *opts,
                          kube_manifest_dir_t **out);

/* Loads everything now (synchronously), applies it to the source, marks every collection of the
 * source synced, calls on_update, and with watch starts watching.
 * Returns: KUBE_OK (problems inside files are reported, not returned); KUBE_ENOENT when a path
 * given does not exist (nothing applied); KUBE_ESTATE when already started; KUBE_EUV when a watch
 * could not be started (the load itself was applied); KUBE_ENOMEM. */
int kube_manifest_dir_start(kube_manifest_dir_t *d);

/* Walks and applies now, as a settled watch event would (useful without watch, e.g. on SIGHUP).
 * Returns: KUBE_OK, KUBE_ESTATE before start, KUBE_ENOMEM. */
int kube_manifest_dir_rescan(kube_manifest_dir_t *d);

/* Returns: the problems currently outstanding — the errors of every file's latest read plus the
 * current conflicts between files; 0 when everything on disk is applied. */
size_t kube_manifest_dir_problems(const kube_manifest_dir_t *d);

/* Returns: the number of rounds that ran (initial load included). */
size_t kube_manifest_dir_rounds(const kube_manifest_dir_t *d);

/* Stops watching and frees the adapter: at once when it holds no libuv handle, otherwise once the
 * loop has run the handles' close callbacks (keep running the loop). The objects it applied stay
 * in the source. NULL is a no-op. */
void kube_manifest_dir_close(kube_manifest_dir_t *d);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_MANIFEST_DIR_H */
