/* srvlookup.h: blocking SRV and address look-ups with c-ares against one DNS server given
 * by the caller (never the system's resolv.conf servers, no search list), for the tools
 * (kmsctl activate --srv, kmsbench): the KMS hosts of _vlmcs._tcp.ZONE and their
 * addresses. Each call has a deadline. Not for the daemon's event loop. */
#ifndef KMSHA_SRVLOOKUP_H
#define KMSHA_SRVLOOKUP_H

#include <stddef.h>
#include "proto/dnsmsg.h"

#define SRVLOOKUP_ADDR_LEN 46 /* INET6_ADDRSTRLEN */

/* Looks up the SRV records of name (e.g. "_vlmcs._tcp.kms.example.edu") on server
 * ("IP", "IP:PORT" or "[V6]:PORT"; port 53 when omitted). Returns how many records it
 * wrote to out (0 when the name has none), or KMS_EINVAL (bad server or name),
 * KMS_ETIMEOUT (no answer within timeout_ms), KMS_EIO (any other failure) with a reason
 * in err. Targets are absolute ("kms1.kms.example.edu."), in the server's order. */
int srvlookup_srv(const char *server, const char *name, int timeout_ms, dnsmsg_srv *out,
                  size_t cap, char *err, size_t errlen);

/* Resolves host's A and AAAA records on server (IPv4 first). An address literal is
 * returned as it is. Returns the count written to out (0: none), or an error as above. */
int srvlookup_addrs(const char *server, const char *host, int timeout_ms,
                    char (*out)[SRVLOOKUP_ADDR_LEN], size_t cap, char *err, size_t errlen);

#endif
