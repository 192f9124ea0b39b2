/* ctlnode.h: which node kmsctl talks to. By default the admin address 127.0.0.1:8688;
 * with `kmsctl --config FILE [--node-id ID] COMMAND ...` (or KMSHA_CONFIG and
 * KMSHA_NODE_ID in the environment, as the unit's /etc/default/kmsha-INSTANCE sets them)
 * the node's admin address comes from the cluster file, as kmsd itself reads it. A
 * command's own --admin always wins. */
#ifndef KMSHA_CTLNODE_H
#define KMSHA_CTLNODE_H

#include <jansson.h>

/* Takes the global options before the command (--config FILE, --node-id ID) off argv,
 * leaving argv[0] the program name and argv[1] the command. Returns 0, or EXIT_USAGE (2)
 * after printing what is wrong. */
int ctlnode_options(int *argc, char ***argv);

/* The admin address to ask when a command was given no --admin; NULL after printing why
 * (an unreadable or invalid cluster file, a cluster file with several nodes and no node
 * id, a node whose admin is off). */
const char *ctlnode_admin(void);

/* With a cluster file: its nodes as [{"id", "admin", "site"}] (new reference), so that
 * `status --cluster` reaches every node even when one of them is down; NULL without a
 * cluster file or when it has no [peer.ID] sections. */
json_t *ctlnode_peers(void);

/* With a cluster file: the node's admin token file ([node] admin_token_file, else
 * DATA_DIR/admin.token); NULL without one. */
const char *ctlnode_token_file(void);
/* With a cluster file: the node's read token file ([node] read_token_file, else
 * DATA_DIR/read.token); NULL without one. */
const char *ctlnode_read_token_file(void);

#endif
