/* ctldns.h: kmsctl's DNS subcommands, apart from kmsctl.c's table: `drain NODE` / `undrain
 * NODE` (POST to that node's admin address, found through the local node's /status), `dns
 * check` (GET /dns, with the drain state of other nodes asked from them), and the SRV
 * discovery behind `activate --srv`. Subcommands take the arguments after their name and
 * return the exit status: 0 success, 1 failure or a difference, 2 bad usage. */
#ifndef KMSHA_CTLDNS_H
#define KMSHA_CTLDNS_H

#include <stdint.h>

int ctldns_drain(int argc, char **argv);
int ctldns_undrain(int argc, char **argv);
int ctldns_dns(int argc, char **argv);

/* One try of activate --srv: addr (an IP literal) and port of SRV target `target`. Returns
 * 0 when the host answered (stop), -1 when it did not answer (connection refused or
 * timeout: try the next target), or an exit status (> 0) to stop with. */
typedef int (*ctldns_attempt_fn)(void *ctx, const char *addr, uint16_t port, const char *target);

/* Looks up the SRV records of name on dns_server (IP[:PORT], never the system resolvers),
 * orders them as RFC 2782 says (lowest priority first, weighted random within a priority;
 * OpenSSL's random numbers), resolves each target's A/AAAA records on the same server and
 * calls attempt for each address until one does not return -1. Each failed target is
 * reported on stderr. Returns attempt's result, 1 when no target answered or the look-up
 * failed, 2 when dns_server or name is not usable. */
int ctldns_srv_try(const char *dns_server, const char *name, int timeout_ms,
                   ctldns_attempt_fn attempt, void *ctx);

#endif
