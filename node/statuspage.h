/* statuspage.h: the admin address's human page (GET /): the cluster's nodes and sites,
 * their health and replication lag, counts per application and recent activations,
 * refreshed live from /status. Static text; admin.c serves it. */
#ifndef KMSHA_STATUSPAGE_H
#define KMSHA_STATUSPAGE_H

#include <stddef.h>

extern const char statuspage_html[];
extern const size_t statuspage_html_len;

#endif
