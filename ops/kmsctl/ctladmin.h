/* ctladmin.h: kmsctl's one way to ask a node's admin address for JSON (status, peers,
 * clients, dns, drain): parse the address, make the HTTP request with a deadline, check
 * the status, parse the body. Failures are printed as one "kmsctl: ..." line. */
#ifndef KMSHA_CTLADMIN_H
#define KMSHA_CTLADMIN_H

#include <jansson.h>
#include <stdbool.h>

/* METHOD path on admin ("HOST", "HOST:PORT" or "[V6]:PORT"; port 8688 when omitted).
 * Returns the parsed JSON (caller decrefs) or NULL after printing what went wrong: a bad
 * address, no answer ("node at ADMIN is not answering: ..."), an HTTP error (with the
 * node's "error" text when it sent one), or a body that is not JSON. */
json_t *ctladmin_request(const char *method, const char *admin, const char *path, int timeout_ms);

/* The token sent with every request (Authorization: Bearer): the admin token, which
 * every endpoint takes, or else the read token, which client records (clients, report)
 * take. Read from the first file found of: kmsctl --token-file FILE (admin),
 * --read-token-file FILE (read), $KMSHA_ADMIN_TOKEN_FILE, $KMSHA_READ_TOKEN_FILE, the
 * node's admin_token_file and read_token_file of kmsctl --config's cluster file, then
 * /etc/kmsha/admin.token, /etc/kmsha/read.token, ./var/admin.token and ./var/read.token
 * (kmsd --local-cluster's). A file named by an option, the environment or the cluster
 * file that cannot be read is an error (printed; nothing is guessed past it). Nodes make
 * both files at first start. */
void ctladmin_set_token_file(const char *path);
void ctladmin_set_read_token_file(const char *path);
/* That token ("" when none was found). */
const char *ctladmin_token(void);

/* GET /status from admin and, with cluster, from every peer that node lists (each node's
 * own view; the node itself is not asked twice). Returns an array of the statuses in the
 * node's peer order (just the one node's without cluster or without peers), or NULL when
 * admin itself does not answer (printed). The ids of peers that did not answer (or have
 * no admin address) are appended to unreachable. */
/* admin NULL: the node kmsctl --config names (ctlnode_admin). */
json_t *ctladmin_statuses(const char *admin, bool cluster, int timeout_ms, json_t *unreachable);

#endif
