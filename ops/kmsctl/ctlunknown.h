/* ctlunknown.h: kmsctl's view of the KMS counted IDs nodes were asked for that the product
 * table does not know ("unknown_products" in a node's /status, node/unknownids.h): the
 * lines `kmsctl status` adds, and `kmsctl products --unknown`, which merges the lists of
 * the nodes it asks (each node lists what its own clients asked it since it started). */
#ifndef KMSHA_CTLUNKNOWN_H
#define KMSHA_CTLUNKNOWN_H

#include <jansson.h>
#include <stdbool.h>

/* Prints the unknown-ID lines of one node's /status for kmsctl status (nothing when the
 * node has seen none). */
void ctlunknown_print_status(json_t *status);

/* kmsctl products --unknown: the /status of admin (and with cluster of every peer),
 * merged per KMS counted ID and application: first and last seen, requests, activated,
 * the nodes that saw it. Returns the exit status (1 when a node did not answer). */
int ctlunknown_list(const char *admin, bool cluster, bool json, int timeout_ms);

#endif
