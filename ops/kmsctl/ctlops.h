/* ctlops.h: kmsctl's operations subcommands, apart from kmsctl.c's table: `clients` (query
 * client records through a node's admin address, or straight from a store directory),
 * `backup` (a consistent copy of a live store) and `restore` (put a backup in place for a
 * stopped node). Each takes the arguments after its name and returns the exit status:
 * 0 success, 1 the operation failed (message on stderr), 2 bad usage. */
#ifndef KMSHA_CTLOPS_H
#define KMSHA_CTLOPS_H

int ctlops_clients(int argc, char **argv);
int ctlops_backup(int argc, char **argv);
int ctlops_restore(int argc, char **argv);

#endif
