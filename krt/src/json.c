/*
 * The JSON object type: a Kubernetes-style API object (a jansson value) wrapped as a krt object, so
 * sources can put API objects straight into static collections (contract in
 * krt/include/krt/json.h).
 *
 * The key decision: each object serializes its value once, at creation, into a canonical form and
 * keeps it. The hash is XXH3 over those bytes and equality compares them byte for byte, so two
 * documents that differ only in key order or whitespace are equal, and an equal hash is never
 * trusted on its own. The alternative, json_equal() on the trees, walks two hash tables per
 * comparison and has no matching hash. The form is packed binary rather than JSON text (see "The
 * packed form" below): about half the bytes, and read back into a tree without lexing.
 *
 * The second decision: the canonical bytes are the value, the jansson tree is a cache. A tree
 * costs about sixteen times the packed bytes, and a controller holds every object of the cluster,
 * so an application may set a budget (krt_json_tree_limit) and call krt_json_trim() where no
 * tree is borrowed (after a flush): the least recently read trees are dropped and rebuilt from
 * the packed bytes when read. Without a budget nothing is ever dropped. Labels, the selector, key,
 * name, namespace and kind are copied into the object, so they never depend on the tree.
 *
 * Memory: the struct, both label arrays and every string above are one krt_malloc block; the
 * canonical bytes are a second krt_malloc block. Trees are allocated by jansson: in the tree heap
 * (json_heap.c) when the application installed it, since jansson's allocator is process-global
 * and the application's to choose; the cache's node for a parsed tree goes there too.
 */
#include "krt/json.h"

#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct krt_json {
    krt_obj_t base; /* first: the engine sees a krt_obj_t */
    /* The canonical bytes and the trimmable tree. Mutable behind the const object pointer: the
     * tree is a cache, not part of the value. */
    krt_json_lazy_t lz;
    const char *key, *name, *namespace_, *kind; /* point into this block */
    krt_label_t *labels; /* point into this block, strings too; nlabels items */
    size_t nlabels;
    krt_label_t *selector; /* point into this block; nselector items */
    size_t nselector;
    bool has_selector;
} krt_json_t;

/* The tree cache: every lazy value whose tree is parsed, on one of two lists, most recent first:
 *  FRESH  trees not read since their value was made (an object just ingested, a record just
 *         emitted): the flush that follows will read most of them, so the flush never drops them
 *         (that would parse them twice); krt_json_trim() does. An API object's tree read during
 *         the flush stays here too (marked seen) until that trim;
 *  READ   trees read at least once, in least-recently-read order: what the budget drops first.
 * Process-wide like jansson's allocator, and single-threaded like krt objects (their refcounts are
 * not atomic). */
enum { FRESH = 0, READ = 1 };

/* A parsed tree and its place in the cache; exists only while the value is parsed, so a value
 * at rest costs its packed bytes and a 24-byte krt_json_lazy_t. Allocated in the tree heap when it
 * is installed (it lives and dies with the tree). */
struct krt_json_node {
    json_t *tree;
    krt_json_lazy_t *owner;
    struct krt_json_node *prev, *next;
    uint64_t epoch; /* the transformation that read it last */
    uint8_t list;   /* FRESH or READ */
    uint8_t seen;   /* read while on FRESH */
};
typedef struct krt_json_node node_t;

static struct {
    struct {
        node_t *head, *tail;
    } list[2];
    size_t n, bytes, limit;
    /* Bumped before every transformation (krt__json_epoch_next). A tree read in the current
     * epoch may be borrowed by the code running now; older ones are borrowed by nobody, because
     * a transformation's borrowed pointers die with it. */
    uint64_t epoch;
    uint64_t parses; /* trees parsed again after a trim */
    size_t seen;     /* FRESH trees marked seen: krt_json_trim() walks FRESH only when nonzero */
} cache = {{{NULL, NULL}, {NULL, NULL}}, 0, 0, SIZE_MAX, 1, 0, 0};

void krt__json_epoch_next(void)
{
    cache.epoch++;
}

/* What a parsed tree costs, estimated from the packed bytes: jansson allocates every node, member
 * and string separately, about eight times the compact text (measured on Pods and HTTPRoutes
 * with massif), which is about twice the packed form. */
static size_t tree_cost(const krt_json_lazy_t *l)
{
    return 16 * ((size_t)l->len + 1);
}

static void lru_unlink(node_t *l)
{
    int w = l->list;
    if (l->prev)
        l->prev->next = l->next;
    else
        cache.list[w].head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        cache.list[w].tail = l->prev;
    l->prev = l->next = NULL;
    if (l->seen) {
        l->seen = 0;
        cache.seen--;
    }
    cache.n--;
    cache.bytes -= tree_cost(l->owner);
}

static void lru_push(node_t *l, int w)
{
    l->list = (uint8_t)w;
    l->epoch = cache.epoch;
    l->prev = NULL;
    l->next = cache.list[w].head;
    if (cache.list[w].head)
        cache.list[w].head->prev = l;
    else
        cache.list[w].tail = l;
    cache.list[w].head = l;
    cache.n++;
    cache.bytes += tree_cost(l->owner);
}

/* Gives |l| the tree |tree| (taken) on list |w|. Returns false (tree released) when the node
 * cannot be allocated: the value then simply stays unparsed. */
static bool attach_tree(krt_json_lazy_t *l, json_t *tree, int w)
{
    node_t *n = krt__json_heap_node_alloc(sizeof *n);
    if (!n) {
        json_decref(tree);
        return false;
    }
    memset(n, 0, sizeof *n);
    n->tree = tree;
    n->owner = l;
    l->node = n;
    lru_push(n, w);
    return true;
}

static void drop_tree(node_t *n)
{
    krt_json_lazy_t *l = n->owner;
    lru_unlink(n);
    json_decref(n->tree);
    l->node = NULL;
    krt__json_heap_node_free(n);
}

/* Keeps the cache within its budget while a flush runs: only trees read before, and last read
 * before the current epoch, can go, so nothing the running transformation holds is freed and
 * nothing waiting for its first reader is parsed twice. */
static void trim_unborrowed(void)
{
    node_t *t;
    while (cache.bytes > cache.limit && (t = cache.list[READ].tail) && t->epoch < cache.epoch)
        drop_tree(t);
}

static const krt_json_t *as_json(const krt_obj_t *o)
{
    return (const krt_json_t *)o;
}

/* ---------------------------------------------------------------------------------------------
 * Reading the value. Everything here tolerates any shape: a field of the wrong type counts as
 * absent.
 * ------------------------------------------------------------------------------------------- */

/* Returns: the object at |key| in |obj|, or NULL when |obj| is not an object or the member is
 * missing or not an object. */
static json_t *get_object(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

/* Counts the string-valued members of |obj| (NULL counts 0). */
static size_t count_strings(const json_t *obj)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_string(v))
            n++;
    }
    return n;
}

/* Returns: the bytes the string-valued members of |obj| take as "key\0value\0" copies. */
static size_t strings_bytes(const json_t *obj)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_string(v))
            n += strlen(k) + 1 + strlen(json_string_value(v)) + 1;
    }
    return n;
}

/* Copies |s| to |*cursor| and advances it. Returns: the copy. */
static const char *copy_str(char **cursor, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = memcpy(*cursor, s, n);
    *cursor += n;
    return d;
}

/* Writes the string-valued members of |obj| into |out| (room for count_strings(obj)), sorted,
 * with copies of their strings at |*cursor|: views must outlive a trimmed tree. Non-string values
 * are skipped: a label can only be a string. Returns the number written. */
static size_t fill_strings(const json_t *obj, krt_label_t *out, char **cursor)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!json_is_string(v))
            continue;
        out[n].key = copy_str(cursor, k);
        out[n].value = copy_str(cursor, json_string_value(v));
        n++;
    }
    krt_labels_sort(out, n);
    return n;
}

/* Finds the selector map, in the order json.h documents: spec.selector when every member is a
 * string (Service style), else spec.selector.matchLabels, else spec.podSelector.matchLabels.
 * Returns: the map, or NULL when the object has none. */
static json_t *find_selector(const json_t *value)
{
    json_t *spec = get_object(value, "spec");
    json_t *sel = get_object(spec, "selector");
    if (sel) {
        if (count_strings(sel) == json_object_size(sel))
            return sel;
        json_t *ml = get_object(sel, "matchLabels");
        if (ml)
            return ml;
    }
    return get_object(get_object(spec, "podSelector"), "matchLabels");
}

/* ---------------------------------------------------------------------------------------------
 * The packed form: the canonical bytes of a value. A tagged binary encoding, about half the size of
 * compact JSON text (object keys that are Kubernetes field names take one byte, lengths and small
 * numbers one byte), written in one pass and read back into a tree without lexing. It is canonical:
 * object members are sorted by key (bytes, then length, as jansson's JSON_SORT_KEYS) and every
 * value has exactly one encoding, so equal values are equal bytes. The bytes live only in memory
 * (they are never stored or sent), so the format and its key dictionary may change freely.
 *
 *   value  0x00 null   0x01 false   0x02 true
 *          0x03 integer: zigzag varint                0x80|n  integer n, 0 <= n < 128
 *          0x04 real: 8 bytes, IEEE 754 little-endian
 *          0x05 string: varint length, bytes          0x40|n  string of n < 64 bytes, bytes
 *          0x06 array: varint count, values
 *          0x07 object: varint count, (key, value) pairs in key order
 *          0x08 string that is a lowercase UUID (8-4-4-4-12 hex): its 16 bytes
 *          0x09 string that is a UTC time "YYYY-MM-DDTHH:MM:SSZ" (years 1970-9999): varint
 *               seconds since 1970 (metadata.uid and every timestamp of an API object)
 *          0x0a+i  string value pk_vdict[i]: kinds, API versions, schema enums
 *   A string takes the first of these forms that fits, so each has exactly one encoding.
 *   key    0x00..0xbf  dictionary entry (pk_dict)      0xc0+n  n < 63 bytes follow
 *          0xff        varint length, bytes
 * ------------------------------------------------------------------------------------------- */
enum {
    PK_NULL = 0x00,
    PK_FALSE = 0x01,
    PK_TRUE = 0x02,
    PK_INT = 0x03,
    PK_REAL = 0x04,
    PK_STR = 0x05,
    PK_ARRAY = 0x06,
    PK_OBJECT = 0x07,
    PK_UUID = 0x08,
    PK_TIME = 0x09,
    PK_VDICT = 0x0a,      /* + entry of pk_vdict, below PK_SHORT_STR */
    PK_SHORT_STR = 0x40,  /* | length < 64 */
    PK_SMALL_INT = 0x80,  /* | value < 128 */
    PK_KEY_INLINE = 0xc0, /* + length < 63 */
    PK_KEY_LONG = 0xff,
};

/* Nesting limit: jansson's parser refuses deeper documents (JSON_PARSER_MAX_DEPTH), so an object
 * from an API server never comes near it; a deeper tree built by hand is refused (KRT_EINVAL). */
#define PK_DEPTH 2048

/* Field names of Kubernetes core, Gateway API and agentgateway objects, one byte each as keys.
 * Schema names only, never label or annotation keys (those are users' data). At most 192. */
static const char *const pk_dict[] = {
    /* object meta */
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "status",
    "name",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "generateName",
    "controller",
    "blockOwnerDeletion",
    "manager",
    "operation",
    "time",
    "fieldsType",
    "fieldsV1",
    "subresource",
    /* conditions */
    "conditions",
    "type",
    "reason",
    "message",
    "lastTransitionTime",
    "observedGeneration",
    "lastProbeTime",
    "lastUpdateTime",
    /* Pod */
    "containers",
    "initContainers",
    "image",
    "imagePullPolicy",
    "ports",
    "containerPort",
    "protocol",
    "resources",
    "requests",
    "limits",
    "cpu",
    "memory",
    "env",
    "value",
    "valueFrom",
    "volumeMounts",
    "mountPath",
    "readOnly",
    "volumes",
    "nodeName",
    "serviceAccountName",
    "serviceAccount",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "dnsPolicy",
    "schedulerName",
    "securityContext",
    "tolerations",
    "key",
    "effect",
    "tolerationSeconds",
    "operator",
    "priority",
    "enableServiceLinks",
    "preemptionPolicy",
    "hostNetwork",
    "podIP",
    "podIPs",
    "ip",
    "hostIP",
    "hostIPs",
    "phase",
    "qosClass",
    "startTime",
    "containerStatuses",
    "ready",
    "restartCount",
    "started",
    "state",
    "running",
    "startedAt",
    "imageID",
    "containerID",
    "lastState",
    "terminated",
    "waiting",
    "exitCode",
    "args",
    "command",
    "livenessProbe",
    "readinessProbe",
    "httpGet",
    "path",
    "port",
    "scheme",
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationMessagePath",
    "terminationMessagePolicy",
    /* Service, EndpointSlice, Secret, ConfigMap */
    "clusterIP",
    "clusterIPs",
    "selector",
    "sessionAffinity",
    "targetPort",
    "appProtocol",
    "nodePort",
    "externalTrafficPolicy",
    "internalTrafficPolicy",
    "ipFamilies",
    "ipFamilyPolicy",
    "loadBalancer",
    "ingress",
    "externalName",
    "addressType",
    "endpoints",
    "addresses",
    "serving",
    "terminating",
    "targetRef",
    "zone",
    "hints",
    "data",
    "stringData",
    "immutable",
    /* Gateway API */
    "gatewayClassName",
    "listeners",
    "hostname",
    "allowedRoutes",
    "namespaces",
    "from",
    "kinds",
    "group",
    "tls",
    "mode",
    "certificateRefs",
    "options",
    "infrastructure",
    "parentRefs",
    "sectionName",
    "hostnames",
    "rules",
    "matches",
    "headers",
    "queryParams",
    "method",
    "backendRefs",
    "weight",
    "filters",
    "requestHeaderModifier",
    "responseHeaderModifier",
    "set",
    "add",
    "remove",
    "requestRedirect",
    "urlRewrite",
    "requestMirror",
    "backendRef",
    "statusCode",
    "replacePrefixMatch",
    "replaceFullPath",
    "timeouts",
    "request",
    "backendRequest",
    "parents",
    "parentRef",
    "controllerName",
    "attachedRoutes",
    "supportedKinds",
    "matchLabels",
    "matchExpressions",
    "values",
    "to",
    "description",
    "parametersRef",
    "extensionRef",
    "targetRefs",
    "cors",
    "retry",
    /* agentgateway */
    "traffic",
    "backend",
    "frontend",
    "static",
    "host",
    "policies",
};
#define PK_DICT_LEN (sizeof pk_dict / sizeof pk_dict[0])
_Static_assert(PK_DICT_LEN <= PK_KEY_INLINE, "pk_dict: at most 192 one-byte keys");

/* String values that recur in every object of a kind (kinds, API versions, schema enums), one byte
 * each. Schema values only, never users' data (names, hosts, paths). At most 54. */
static const char *const pk_vdict[] = {
    "v1", "gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1",
    "gateway.networking.k8s.io/v1alpha2", "gateway.networking.k8s.io",
    "gateway.networking.x-k8s.io/v1alpha1", "discovery.k8s.io/v1", "agentgateway.dev/v1alpha1",
    /* kinds */
    "Pod", "Service", "Namespace", "Secret", "ConfigMap", "EndpointSlice", "GatewayClass",
    "Gateway", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "ReferenceGrant",
    "ListenerSet", "BackendTLSPolicy",
    /* Gateway API enums */
    "PathPrefix", "Exact", "RegularExpression", "RequestHeaderModifier",
    "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "RequestMirror", "HTTP", "HTTPS",
    "TLS", "All", "Same", "Selector", "Terminate", "Passthrough", "Accepted", "Programmed",
    "ResolvedRefs",
    /* core enums */
    "TCP", "UDP", "True", "False", "Unknown", "Ready", "Running", "ContainersReady",
    "ClusterIP", "None", "http", "https"};
#define PK_VDICT_LEN (sizeof pk_vdict / sizeof pk_vdict[0])
_Static_assert(PK_VDICT + PK_VDICT_LEN <= PK_SHORT_STR, "pk_vdict: at most 54 values");

/* Dictionary lookup: open addressing over FNV-1a, built on first use (single-threaded, like the
 * rest of this file). A slot holds entry + 1 (keys) or 128 + entry + 1 (values); 0 is empty. */
#define PK_SLOTS 512
static uint8_t pk_slots[PK_SLOTS];
static uint8_t pk_lens[PK_DICT_LEN];
static uint8_t pk_vlens[PK_VDICT_LEN];
static uint8_t pk_vslots[128];
static bool pk_ready;

static uint32_t pk_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void pk_dict_build(void)
{
    for (size_t i = 0; i < PK_DICT_LEN; i++) {
        size_t n = strlen(pk_dict[i]);
        pk_lens[i] = (uint8_t)n;
        uint32_t s = pk_hash(pk_dict[i], n) & (PK_SLOTS - 1);
        while (pk_slots[s])
            s = (s + 1) & (PK_SLOTS - 1);
        pk_slots[s] = (uint8_t)(i + 1);
    }
    for (size_t i = 0; i < PK_VDICT_LEN; i++) {
        size_t n = strlen(pk_vdict[i]);
        pk_vlens[i] = (uint8_t)n;
        uint32_t s = pk_hash(pk_vdict[i], n) & 127;
        while (pk_vslots[s])
            s = (s + 1) & 127;
        pk_vslots[s] = (uint8_t)(i + 1);
    }
    pk_ready = true;
}

/* Returns: the value dictionary entry of |s|, or -1. */
static int pk_vdict_find(const char *v, size_t n)
{
    if (n == 0 || n > 40)
        return -1;
    for (uint32_t s = pk_hash(v, n) & 127; pk_vslots[s]; s = (s + 1) & 127) {
        int i = pk_vslots[s] - 1;
        if (pk_vlens[i] == n && memcmp(pk_vdict[i], v, n) == 0)
            return i;
    }
    return -1;
}

static int pk_hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The 16 bytes of |s| (36 bytes) when it is a lowercase UUID. */
static bool pk_uuid_pack(const char *s, uint8_t raw[16])
{
    int k = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return false;
            continue;
        }
        int hi = pk_hexval(s[i]), lo = pk_hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        raw[k++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return true;
}

static void pk_uuid_format(const uint8_t raw[16], char out[36])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0, k = 0; k < 16; k++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            out[i++] = '-';
        out[i++] = hex[raw[k] >> 4];
        out[i++] = hex[raw[k] & 15];
    }
}

/* Days from 1970-01-01 to |y|-|m|-|d| (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t pk_days(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Writes "YYYY-MM-DDTHH:MM:SSZ" for |t| seconds since 1970 (t < year 10000). */
static void pk_time_format(uint64_t t, char out[20])
{
    int64_t z = (int64_t)(t / 86400) + 719468;
    unsigned sod = (unsigned)(t % 86400);
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    unsigned v[6] = {(unsigned)y, m, d, sod / 3600, sod / 60 % 60, sod % 60};
    static const unsigned width[6] = {4, 2, 2, 2, 2, 2};
    static const char sep[6] = {'-', '-', 'T', ':', ':', 'Z'};
    for (int i = 0, p = 0; i < 6; i++) {
        for (unsigned w = width[i], x = v[i]; w > 0; w--, x /= 10)
            out[p + (int)w - 1] = (char)('0' + x % 10);
        p += (int)width[i];
        out[p++] = sep[i];
    }
}

/* Seconds since 1970 of |s| (20 bytes) when it is exactly the form pk_time_format writes. */
static bool pk_time_pack(const char *s, uint64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    unsigned v[6] = {0}, f = 0;
    for (int i = 0; i < 20; i++) {
        if (shape[i] != 'd') {
            if (s[i] != shape[i])
                return false;
            f++;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        } else {
            v[f] = v[f] * 10 + (unsigned)(s[i] - '0');
        }
    }
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 ||
        v[5] > 59)
        return false;
    int64_t t = pk_days(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
    char back[20];
    pk_time_format((uint64_t)t, back);
    if (memcmp(back, s, 20) != 0)
        return false; /* a day past the month's end: not the canonical spelling */
    *out = (uint64_t)t;
    return true;
}

/* Returns: the dictionary entry of |key|, or -1. */
static int pk_dict_find(const char *key, size_t n)
{
    if (n == 0 || n > 64)
        return -1;
    for (uint32_t s = pk_hash(key, n) & (PK_SLOTS - 1); pk_slots[s]; s = (s + 1) & (PK_SLOTS - 1)) {
        int i = pk_slots[s] - 1;
        if (pk_lens[i] == n && memcmp(pk_dict[i], key, n) == 0)
            return i;
    }
    return -1;
}

typedef struct pk_buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} pk_buf_t;

/* Makes room for |n| more bytes plus the NUL that ends every form. Returns false on OOM. */
static bool pk_room(pk_buf_t *b, size_t n)
{
    if (n < b->cap - b->len)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (n + 1 > cap - b->len) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = krt_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static bool pk_byte(pk_buf_t *b, uint8_t x)
{
    if (!pk_room(b, 1))
        return false;
    b->p[b->len++] = x;
    return true;
}

static bool pk_varint(pk_buf_t *b, uint64_t x)
{
    if (!pk_room(b, 10))
        return false;
    while (x >= 0x80) {
        b->p[b->len++] = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    b->p[b->len++] = (uint8_t)x;
    return true;
}

static bool pk_bytes(pk_buf_t *b, const void *s, size_t n)
{
    if (!pk_room(b, n))
        return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

static bool pk_string(pk_buf_t *b, const char *s, size_t n)
{
    int d = pk_vdict_find(s, n);
    if (d >= 0)
        return pk_byte(b, (uint8_t)(PK_VDICT + d));
    uint8_t raw[16];
    if (n == 36 && pk_uuid_pack(s, raw))
        return pk_byte(b, PK_UUID) && pk_bytes(b, raw, 16);
    uint64_t t;
    if (n == 20 && pk_time_pack(s, &t))
        return pk_byte(b, PK_TIME) && pk_varint(b, t);
    if (n < 64)
        return pk_byte(b, (uint8_t)(PK_SHORT_STR | n)) && pk_bytes(b, s, n);
    return pk_byte(b, PK_STR) && pk_varint(b, n) && pk_bytes(b, s, n);
}

static bool pk_key(pk_buf_t *b, const char *k, size_t n)
{
    int d = pk_dict_find(k, n);
    if (d >= 0)
        return pk_byte(b, (uint8_t)d);
    if (n < PK_KEY_LONG - PK_KEY_INLINE)
        return pk_byte(b, (uint8_t)(PK_KEY_INLINE + n)) && pk_bytes(b, k, n);
    return pk_byte(b, PK_KEY_LONG) && pk_varint(b, n) && pk_bytes(b, k, n);
}

typedef struct pk_member {
    const char *key;
    size_t len;
    json_t *value;
} pk_member_t;

/* jansson's order for JSON_SORT_KEYS: bytes, then length. */
static int pk_member_cmp(const void *x, const void *y)
{
    const pk_member_t *a = x, *b = y;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Appends the packed form of |v|. Returns 0, or -1 on OOM (b->oom) or a value nested deeper than
 * PK_DEPTH or of no JSON type. */
static int pk_write(pk_buf_t *b, json_t *v, unsigned depth)
{
    if (!v || depth > PK_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return pk_byte(b, PK_NULL) ? 0 : -1;
    case JSON_TRUE:
        return pk_byte(b, PK_TRUE) ? 0 : -1;
    case JSON_FALSE:
        return pk_byte(b, PK_FALSE) ? 0 : -1;
    case JSON_INTEGER: {
        json_int_t x = json_integer_value(v);
        if (x >= 0 && x < 128)
            return pk_byte(b, (uint8_t)(PK_SMALL_INT | x)) ? 0 : -1;
        uint64_t u = (uint64_t)x;
        u = (u << 1) ^ (x < 0 ? UINT64_MAX : 0); /* zigzag */
        return pk_byte(b, PK_INT) && pk_varint(b, u) ? 0 : -1;
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        uint8_t le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)(u >> (8 * i));
        return pk_byte(b, PK_REAL) && pk_bytes(b, le, 8) ? 0 : -1;
    }
    case JSON_STRING:
        return pk_string(b, json_string_value(v), json_string_length(v)) ? 0 : -1;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (!pk_byte(b, PK_ARRAY) || !pk_varint(b, n))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (pk_write(b, json_array_get(v, i), depth + 1))
                return -1;
        return 0;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        pk_member_t small[16];
        pk_member_t *m = n <= 16 ? small : krt_malloc(n * sizeof *m);
        if (!m) {
            b->oom = true;
            return -1;
        }
        size_t k = 0;
        for (void *it = json_object_iter(v); it && k < n; it = json_object_iter_next(v, it))
            m[k++] = (pk_member_t){json_object_iter_key(it), json_object_iter_key_len(it),
                                   json_object_iter_value(it)};
        qsort(m, k, sizeof *m, pk_member_cmp);
        int rc = pk_byte(b, PK_OBJECT) && pk_varint(b, k) ? 0 : -1;
        for (size_t i = 0; i < k && !rc; i++)
            rc = pk_key(b, m[i].key, m[i].len) ? pk_write(b, m[i].value, depth + 1) : -1;
        if (m != small)
            krt_free(m);
        return rc;
    }
    }
    return -1;
}

typedef struct pk_reader {
    const uint8_t *p, *end;
} pk_reader_t;

static bool pk_read_varint(pk_reader_t *r, uint64_t *out)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = x;
            return true;
        }
    }
    return false;
}

/* Returns: |n| bytes at the cursor, advanced past them, or NULL when fewer are left. */
static const char *pk_take(pk_reader_t *r, uint64_t n)
{
    if (n > (uint64_t)(r->end - r->p))
        return NULL;
    const char *s = (const char *)r->p;
    r->p += n;
    return s;
}

/* Builds the tree of one packed value. Returns: a new reference, or NULL on OOM (or bytes that
 * are not a packed form, which krt never makes: each read is checked anyway). */
static json_t *pk_read(pk_reader_t *r, unsigned depth)
{
    if (r->p >= r->end || depth > PK_DEPTH)
        return NULL;
    uint8_t tag = *r->p++;
    uint64_t n;
    const char *s;
    if (tag & PK_SMALL_INT)
        return json_integer(tag & 0x7f);
    if (tag & PK_SHORT_STR) {
        n = tag & 0x3f;
        return (s = pk_take(r, n)) ? json_stringn_nocheck(s, n) : NULL;
    }
    switch (tag) {
    case PK_NULL:
        return json_null();
    case PK_FALSE:
        return json_false();
    case PK_TRUE:
        return json_true();
    case PK_INT:
        if (!pk_read_varint(r, &n))
            return NULL;
        return json_integer((json_int_t)((n >> 1) ^ (0 - (n & 1))));
    case PK_REAL: {
        const uint8_t *le = (const uint8_t *)pk_take(r, 8);
        if (!le)
            return NULL;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++)
            u |= (uint64_t)le[i] << (8 * i);
        double d;
        memcpy(&d, &u, sizeof d);
        return json_real(d);
    }
    case PK_STR:
        if (!pk_read_varint(r, &n) || !(s = pk_take(r, n)))
            return NULL;
        return json_stringn_nocheck(s, n);
    case PK_UUID: {
        const uint8_t *raw = (const uint8_t *)pk_take(r, 16);
        char text[36];
        if (!raw)
            return NULL;
        pk_uuid_format(raw, text);
        return json_stringn_nocheck(text, 36);
    }
    case PK_TIME: {
        char text[20];
        if (!pk_read_varint(r, &n) || n >= 253402300800ull) /* 10000-01-01 */
            return NULL;
        pk_time_format(n, text);
        return json_stringn_nocheck(text, 20);
    }
    case PK_ARRAY: {
        if (!pk_read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return NULL;
        json_t *a = json_array();
        for (uint64_t i = 0; a && i < n; i++) {
            json_t *e = pk_read(r, depth + 1);
            if (!e || json_array_append_new(a, e)) {
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    case PK_OBJECT: {
        if (!pk_read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return NULL;
        json_t *o = json_object();
        for (uint64_t i = 0; o && i < n; i++) {
            const char *k = NULL;
            uint64_t klen = 0;
            if (r->p < r->end) {
                uint8_t kt = *r->p++;
                if (kt < PK_DICT_LEN) {
                    k = pk_dict[kt];
                    klen = pk_lens[kt];
                } else if (kt >= PK_KEY_INLINE) {
                    if (kt == PK_KEY_LONG ? pk_read_varint(r, &klen)
                                          : (klen = kt - PK_KEY_INLINE, true))
                        k = pk_take(r, klen);
                }
            }
            json_t *val = k ? pk_read(r, depth + 1) : NULL;
            if (!val || json_object_setn_new_nocheck(o, k, klen, val)) {
                json_decref(o);
                o = NULL;
            }
        }
        return o;
    }
    }
    if (tag >= PK_VDICT && tag < PK_VDICT + PK_VDICT_LEN)
        return json_stringn_nocheck(pk_vdict[tag - PK_VDICT], pk_vlens[tag - PK_VDICT]);
    return NULL;
}

/* Returns: the tree of a whole packed form, or NULL (OOM, or trailing bytes). */
static json_t *pk_decode(const char *p, size_t len)
{
    pk_reader_t r = {(const uint8_t *)p, (const uint8_t *)p + len};
    json_t *v = pk_read(&r, 0);
    if (v && r.p != r.end) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * The type.
 * ------------------------------------------------------------------------------------------- */
static const char *json_key(const krt_obj_t *o)
{
    return as_json(o)->key;
}

static uint64_t json_hash(const krt_obj_t *o)
{
    const krt_json_t *j = as_json(o);
    return krt_hash_bytes(j->lz.canonical, j->lz.len, 0);
}

static bool json_equals(const krt_obj_t *a, const krt_obj_t *b)
{
    const krt_json_t *x = as_json(a), *y = as_json(b);
    return krt_json_lazy_equal(&x->lz, &y->lz);
}

static void json_obj_free(krt_obj_t *o)
{
    krt_json_t *j = (krt_json_t *)o;
    krt_json_lazy_dispose(&j->lz);
    krt_free(j);
}

/* A deep copy, so a caller that edits its dump cannot reach into the object's value. */
static json_t *json_dump_obj(const krt_obj_t *o)
{
    return json_deep_copy(krt_json_value(o));
}

/* The block and the canonical bytes, plus the estimated tree while it is parsed. */
static size_t json_size(const krt_obj_t *o)
{
    const krt_json_t *j = as_json(o);
    size_t n = sizeof *j + (j->nlabels + j->nselector) * (sizeof(krt_label_t) + 16) +
               2 * strlen(j->key) + 8;
    return n + krt_json_lazy_size(&j->lz);
}

static bool json_labels(const krt_obj_t *o, krt_labels_t *out)
{
    const krt_json_t *j = as_json(o);
    /* Every API object has a label set, possibly empty: an empty view, not "none". */
    out->items = j->labels;
    out->len = j->nlabels;
    return true;
}

static bool json_selector(const krt_obj_t *o, krt_labels_t *out)
{
    const krt_json_t *j = as_json(o);
    if (!j->has_selector) {
        out->items = NULL;
        out->len = 0;
        return false;
    }
    out->items = j->selector;
    out->len = j->nselector;
    return true;
}

static const char *json_namespace(const krt_obj_t *o)
{
    return as_json(o)->namespace_;
}

const krt_type_t krt_json_type = {
    .name = "json",
    .flags = 0, /* equality is a byte compare of canonical forms, not the hash */
    .key = json_key,
    .hash = json_hash,
    .equals = json_equals,
    .free = json_obj_free,
    .dump = json_dump_obj,
    .size = json_size,
    .labels = json_labels,
    .selector = json_selector,
    .namespace_ = json_namespace,
};

/* ---------------------------------------------------------------------------------------------
 * Construction.
 * ------------------------------------------------------------------------------------------- */
static const krt_obj_t *fail(json_t *value, int *err, int rc)
{
    json_decref(value);
    if (err)
        *err = rc;
    return NULL;
}

const krt_obj_t *krt_json_new(json_t *value, int *err)
{
    json_t *meta = get_object(value, "metadata");
    if (!json_is_object(value) || !meta)
        return fail(value, err, KRT_EINVAL);

    /* Names are C strings from here on: one holding a NUL (json_stringn) would be cut short. */
    json_t *name = json_object_get(meta, "name");
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        strlen(json_string_value(name)) != json_string_length(name))
        return fail(value, err, KRT_EINVAL);
    /* Absent and JSON null both mean cluster-scoped (as Kubernetes' own decoder reads null). */
    json_t *ns = json_object_get(meta, "namespace");
    if (ns && !json_is_null(ns) &&
        (!json_is_string(ns) || strlen(json_string_value(ns)) != json_string_length(ns)))
        return fail(value, err, KRT_EINVAL);
    const char *ns_str = json_is_string(ns) ? json_string_value(ns) : "";
    const char *name_str = json_string_value(name);
    /* Kubernetes forbids '/' in both; allowing it would let "a"+"b/c" and "a/b"+"c" share a key. */
    if (strchr(name_str, '/') || strchr(ns_str, '/'))
        return fail(value, err, KRT_EINVAL);

    json_t *labels = get_object(meta, "labels");
    json_t *selector = find_selector(value);
    const char *kind = json_string_value(json_object_get(value, "kind"));
    if (!kind)
        kind = "";
    size_t nlabels = count_strings(labels), nselector = count_strings(selector);
    /* An empty namespace is cluster-scoped too: its key is "name", never "/name". */
    size_t ns_len = strlen(ns_str), name_len = strlen(name_str), kind_len = strlen(kind);
    size_t key_len = ns_len ? ns_len + 1 + name_len : name_len;
    size_t lstr = strings_bytes(labels), sstr = strings_bytes(selector);

    /* Sizes come from the document; guard the sum before allocating. */
    size_t arrays = nlabels + nselector;
    if (arrays > (SIZE_MAX - sizeof(krt_json_t)) / sizeof(krt_label_t) / 2 ||
        key_len > SIZE_MAX / 8 || kind_len > SIZE_MAX / 8 || lstr > SIZE_MAX / 8 ||
        sstr > SIZE_MAX / 8)
        return fail(value, err, KRT_ENOMEM);
    size_t arrays_bytes = arrays * sizeof(krt_label_t);
    size_t strings = key_len + 1 + ns_len + 1 + name_len + 1 + kind_len + 1 + lstr + sstr;
    /* Layout: the struct, the label and selector items (pointer-aligned after the struct), then
     * every string the views and accessors hand out, so none depends on the tree. */
    krt_json_t *j = krt_malloc(sizeof *j + arrays_bytes + strings);
    if (!j)
        return fail(value, err, KRT_ENOMEM);
    memset(j, 0, sizeof *j);
    j->labels = (krt_label_t *)(j + 1);
    j->selector = j->labels + nlabels;
    char *cur = (char *)(j->labels + arrays);
    char *keyp = cur;
    if (ns_len) {
        memcpy(keyp, ns_str, ns_len);
        keyp[ns_len] = '/';
        memcpy(keyp + ns_len + 1, name_str, name_len);
    } else {
        memcpy(keyp, name_str, name_len);
    }
    keyp[key_len] = '\0';
    cur += key_len + 1;
    j->key = keyp;
    j->namespace_ = copy_str(&cur, ns_str);
    j->name = copy_str(&cur, name_str);
    j->kind = copy_str(&cur, kind);
    j->nlabels = fill_strings(labels, j->labels, &cur);
    j->nselector = fill_strings(selector, j->selector, &cur);
    j->has_selector = selector != NULL;

    int rc = krt_json_lazy_init(&j->lz, value);
    if (rc != KRT_OK) {
        krt_free(j);
        if (err)
            *err = rc;
        return NULL;
    }
    j->lz.input = 1;
    krt_obj_seal(&j->base, &krt_json_type);
    if (err)
        *err = KRT_OK;
    return &j->base;
}

const krt_obj_t *krt_json_parse(const char *text, size_t len, int *err)
{
    if (!text) {
        if (err)
            *err = KRT_EINVAL;
        return NULL;
    }
    json_error_t jerr;
    /* Flags 0: the root must be an array or object and nothing may follow it. Duplicate keys are
     * accepted (the last wins), as Kubernetes' decoder accepts them. */
    krt_json_heap_begin();
    json_t *v = json_loadb(text, len, 0, &jerr);
    krt_json_heap_end();
    if (!v) {
        if (err)
            *err = KRT_EINVAL;
        return NULL;
    }
    return krt_json_new(v, err);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors.
 * ------------------------------------------------------------------------------------------- */
/* A NULL object or one of another type reads as empty rather than as a stray struct. */
static const krt_json_t *checked(const krt_obj_t *o)
{
    return o && o->type == &krt_json_type ? as_json(o) : NULL;
}

json_t *krt_json_value(const krt_obj_t *o)
{
    krt_json_t *j = (krt_json_t *)checked(o);
    return j ? krt_json_lazy_get(&j->lz) : NULL;
}

const char *krt_json_name(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    return j ? j->name : "";
}

const char *krt_json_namespace(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    return j ? j->namespace_ : "";
}

const char *krt_json_kind(const krt_obj_t *o)
{
    const krt_json_t *j = checked(o);
    return j ? j->kind : "";
}

const char *krt_json_get_string(const krt_obj_t *o, const char *path)
{
    if (!checked(o) || !path || !*path)
        return NULL;
    const json_t *cur = krt_json_value(o);
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
        if (n == 0 || !json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, seg, n);
        if (!cur)
            return NULL;
        if (!dot)
            break;
        seg = dot + 1;
    }
    return json_string_value(cur); /* NULL when not a string */
}

/* ---------------------------------------------------------------------------------------------
 * The tree cache.
 * ------------------------------------------------------------------------------------------- */
void krt_json_tree_limit(size_t bytes)
{
    cache.limit = bytes;
}

size_t krt_json_trim(void)
{
    return krt_json_trim_to(cache.limit);
}

size_t krt_json_trim_to(size_t bytes)
{
    if (bytes > cache.limit)
        bytes = cache.limit;
    /* FRESH trees read since they were made become the most recently read, oldest first, so
     * the budget keeps the trees the last flush read rather than those it only made. */
    for (node_t *t = cache.list[FRESH].tail, *prev; t && cache.seen; t = prev) {
        prev = t->prev;
        if (t->seen) {
            uint64_t epoch = t->epoch;
            lru_unlink(t);
            lru_push(t, READ);
            t->epoch = epoch;
        }
    }
    size_t dropped = 0;
    for (int w = READ; w >= FRESH; w--)
        while (cache.bytes > bytes && cache.list[w].tail) {
            drop_tree(cache.list[w].tail);
            dropped++;
        }
    return dropped;
}

int krt_json_lazy_init(krt_json_lazy_t *l, json_t *value)
{
    memset(l, 0, sizeof *l);
    if (!pk_ready)
        pk_dict_build();
    pk_buf_t b = {0};
    if (!value || pk_write(&b, value, 0) != 0) {
        /* Out of memory, or a value that cannot be a document (nested too deep, a cycle built
         * by hand). */
        int rc = b.oom ? KRT_ENOMEM : KRT_EINVAL;
        krt_free(b.p);
        json_decref(value);
        return rc;
    }
    if (b.len > UINT32_MAX) { /* a document larger than any API server accepts */
        krt_free(b.p);
        json_decref(value);
        return KRT_EINVAL;
    }
    b.p[b.len] = '\0'; /* pk_room keeps room for it; the form is binary, the NUL only a guard */
#ifndef NDEBUG
    { /* debug builds check that the form reads back as a value with the same form (json_equal
       * cannot be the judge: it looks keys up as C strings, so a key holding a NUL fails it) */
        json_t *back = pk_decode((const char *)b.p, b.len);
        pk_buf_t again = {0};
        if (back && pk_write(&again, back, 0) == 0 &&
            (again.len != b.len || memcmp(again.p, b.p, b.len) != 0)) {
            char *want = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            fprintf(stderr, "krt_json: packed form does not read back as %s\n", want ? want : "?");
            abort();
        }
        krt_free(again.p);
        json_decref(back);
    }
#endif
    /* Doubling leaves up to half the buffer unused; values live long, so give it back. A failed
     * shrink keeps the larger buffer, which is still correct. */
    if (b.cap - b.len > 16) {
        uint8_t *p = krt_realloc(b.p, b.len + 1);
        if (p)
            b.p = p;
    }
    l->canonical = (char *)b.p;
    l->len = (uint32_t)b.len;
    if (attach_tree(l, value, FRESH)) /* else the tree is rebuilt when read */
        trim_unborrowed();
    return KRT_OK;
}

json_t *krt_json_lazy_get(krt_json_lazy_t *l)
{
    node_t *n = l->node;
    if (n) {
        if (n->list == FRESH && n->epoch == cache.epoch) {
            /* Read by the transformation that made it (an index function, a comparison at
             * emit): not yet by the readers it was made for. */
        } else if (n->list == FRESH && l->input) {
            /* Stays FRESH until the next krt_json_trim(): a big flush (the cold start) holds
             * more FRESH trees than the budget, so moving it to READ would drop it as soon as
             * this transformation ends, and the next collection reading it would parse it
             * again (at agw-5k, 15,609 parses during the cold start). */
            if (!n->seen) {
                n->seen = 1;
                cache.seen++;
            }
        } else if (cache.list[READ].head != n) { /* most recently read first */
            lru_unlink(n);
            lru_push(n, READ);
        }
        n->epoch = cache.epoch;
        return n->tree;
    }
    /* Trimmed: the packed bytes are the value. NULL only when memory runs out, which readers
     * already treat as an absent field. */
    krt_json_heap_begin();
    json_t *tree = pk_decode(l->canonical, l->len);
    krt_json_heap_end();
    if (!tree || !attach_tree(l, tree, READ))
        return NULL;
    cache.parses++;
    trim_unborrowed();
    return tree;
}

bool krt_json_lazy_equal(const krt_json_lazy_t *a, const krt_json_lazy_t *b)
{
    return a->len == b->len && memcmp(a->canonical, b->canonical, a->len) == 0;
}

size_t krt_json_lazy_size(const krt_json_lazy_t *l)
{
    return sizeof *l + l->len + 1 + (l->node ? sizeof(node_t) + tree_cost(l) : 0);
}

bool krt_json_lazy_parsed(const krt_json_lazy_t *l)
{
    return l->node != NULL;
}

void krt_json_lazy_dispose(krt_json_lazy_t *l)
{
    if (l->node)
        drop_tree(l->node);
    krt_free(l->canonical);
    memset(l, 0, sizeof *l);
}

void krt_json_tree_stats(size_t *trees, size_t *bytes, uint64_t *parses)
{
    if (parses)
        *parses = cache.parses;
    if (trees)
        *trees = cache.n;
    if (bytes)
        *bytes = cache.bytes;
}
