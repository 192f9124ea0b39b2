/* node.c: clock helpers and the recent-activations ring of a node. */
#include "node/node.h"

#include <string.h>
#include <time.h>

int64_t node_now_ms(const node *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (n ? n->clock_offset_ms : 0);
}

double node_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void node_note_recent(node *n, const node_recent *r)
{
    n->recent[n->recent_next % NODE_RECENT_MAX] = *r;
    n->recent_next++;
}
