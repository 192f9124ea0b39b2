/* store_put.c: the writes the event loop queues for the writer: local puts, logged local
 * writes (under the origin set by store_set_origin) and remote updates. Each is checked
 * here, so the writer never meets a record it cannot encode. */
#include "replication/store_internal.h"

#include <pthread.h>
#include <string.h>

#include "proto/errors.h"
#include "proto/products.h"

/* An op of kind carrying a copy of rec with its strings terminated. */
static store_op record_op(int kind, const store_record *rec, store_done_fn done, store_update_fn udone, void *arg)
{
    store_op op = store_op_make(kind, done, udone, arg);
    op.rec = *rec;
    store_record_terminate(&op.rec);
    return op;
}

int store_put_async(store *self, const store_record *rec, store_done_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if (rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    store_op op = record_op(OP_PUT, rec, done, NULL, arg);
    return store_enqueue(self, &op, true);
}

int store_set_origin(store *self, const char *origin)
{
    size_t len = store_origin_len(origin);
    if (!self || !len) return KMS_EINVAL;
    pthread_mutex_lock(&self->mu);
    memset(self->origin, 0, sizeof self->origin);
    memcpy(self->origin, origin, len);
    pthread_mutex_unlock(&self->mu);
    return 0;
}

int store_put_logged_async(store *self, const store_record *rec, store_update_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if (!rec || rec->app >= KMS_APP_COUNT) return KMS_EINVAL;
    store_op op = record_op(OP_PUT_LOGGED, rec, NULL, done, arg);
    pthread_mutex_lock(&self->mu);
    memcpy(op.origin, self->origin, sizeof op.origin);
    pthread_mutex_unlock(&self->mu);
    if (!op.origin[0]) return KMS_EINVAL; /* store_set_origin was not called */
    return store_enqueue(self, &op, true);
}

static int queue_apply(store *self, const store_update *u, bool no_merge, store_update_fn done, void *arg)
{
    if (!self) return KMS_ESTORE;
    if (!u || !store_origin_len(u->origin) || u->seq == 0 || u->rec.app >= KMS_APP_COUNT) return KMS_EINVAL;
    store_op op = record_op(OP_APPLY, &u->rec, NULL, done, arg);
    op.no_merge = no_merge;
    memcpy(op.origin, u->origin, store_origin_len(u->origin));
    op.seq = u->seq;
    return store_enqueue(self, &op, true);
}

int store_apply_async(store *self, const store_update *u, store_update_fn done, void *arg)
{
    return queue_apply(self, u, false, done, arg);
}

int store_apply_refused_async(store *self, const store_update *u, store_update_fn done, void *arg)
{
    return queue_apply(self, u, true, done, arg);
}
