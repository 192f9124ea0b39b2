/* jsonfile.c: JSON text written to stdio streams (see jsonfile.h). */
#include "ops/kmsctl/jsonfile.h"

#include "proto/json.h"

static void put_file(void *ctx, const char *p, size_t n) { fwrite(p, 1, n, ctx); }

void jsonfile_str(FILE *f, const char *s) { json_write_str(s, put_file, f); }
