/*
 * The controller duties' counters as Prometheus text, for the controller's /metrics: the status
 * writer, the deployer's applier and the TokenReview authenticator (each may be NULL: a replica
 * that does not run one simply has no such families). Names are documented in
 * docs/operations.md §8.
 */
#ifndef KUBE_DUTIES_H
#define KUBE_DUTIES_H

#include "kube/deployer.h"
#include "kube/status_writer.h"
#include "kube/tokenreview.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns: the families with HELP and TYPE lines, each line ending in '\n' (owned by caller,
 * free()), or NULL on OOM. Borrows all. */
char *kube_duties_metrics(const kube_status_writer_t *sw, const kube_applier_t *ap,
                          const kube_tokenreview_t *tr);

#ifdef __cplusplus
}
#endif
#endif /* KUBE_DUTIES_H */
