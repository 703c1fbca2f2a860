/*
 * Fuzz target for the translation graph: arbitrary Kubernetes-shaped objects must never crash the
 * graph, break the engine's invariants or make it produce an invalid IR object.
 *
 * Input: JSON objects, one per line, fed to the input collection named by their "kind" (objects
 * of other kinds, and lines that are not objects with metadata.name, are skipped). A line "---"
 * flushes and starts a new round, in which objects replace earlier ones of the same key; a line
 * "-" followed by a JSON object deletes that object's key instead. Seeds are golden fixtures
 * turned into JSON lines (tests/fuzz/corpus/translate/).
 * Needs: krtgate_translate (and krtgate_ir), krt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "krt/json.h"
#include "krt/krt.h"
#include "translate/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(int level, const char *msg, void *ud)
{
    (void)level;
    (void)msg;
    (void)ud;
}

static bool check_obj(const krt_obj_t *o, void *ud)
{
    (void)ud;
    const ir_obj_t *x = ir_obj_from_krt(o);
    ir_err_t err;
    if (!x || ir_obj_check(x, &err) != IR_OK)
        abort();
    return true;
}

static void flush_and_check(krt_engine_t *e, tr_graph_t *g)
{
    krt_engine_flush(e);
    if (krt_engine_check(e) != KRT_OK)
        abort();
    for (int k = IR_KIND_BIND; k <= IR_KIND_ADDRESS; k++)
        krt_collection_foreach(tr_graph_output(g, (ir_kind_t)k), check_obj, NULL);
    char *lines = tr_graph_dump_lines(g);
    free(lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    krt_engine_t *e = krt_engine_new();
    if (!e)
        return 0;
    krt_engine_set_log(e, quiet, NULL);
    tr_sources_t in = {0};
    krt_collection_t *cols[32] = {0};
    for (size_t i = 0; i < tr_source_kinds_len && i < 32; i++) {
        cols[i] = krt_static_new(e, &krt_json_type, tr_source_kinds[i], true);
        tr_sources_set(&in, tr_source_kinds[i], cols[i]);
    }
    tr_graph_t *g = tr_graph_new(e, &in, NULL, NULL);
    if (!g) {
        krt_engine_free(e);
        return 0;
    }
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len == 3 && memcmp(p, "---", 3) == 0) {
            flush_and_check(e, g);
        } else if (len > 0) {
            bool del = p[0] == '-';
            int err = 0;
            const krt_obj_t *o = krt_json_parse(p + del, len - del, &err);
            if (o) {
                const char *kind = krt_json_kind(o);
                for (size_t i = 0; i < tr_source_kinds_len; i++) {
                    if (strcmp(kind, tr_source_kinds[i]) != 0)
                        continue;
                    if (del)
                        krt_static_delete(cols[i], krt_obj_key(o));
                    else
                        krt_static_put(cols[i], krt_obj_retain(o));
                    break;
                }
                krt_obj_release(o);
            }
        }
        p += len + (nl != NULL);
    }
    flush_and_check(e, g);
    tr_graph_free(g);
    krt_engine_free(e);
    return 0;
}
