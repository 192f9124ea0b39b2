/* ctlargs.c: see ctlargs.h. */
#include "ops/kmsctl/ctlargs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ctlargs_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("kmsctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'kmsctl help' for usage.\n", stderr);
}

const char *ctlargs_next(ctlargs *s)
{
    if (s->i >= s->argc) return NULL;
    const char *a = s->argv[s->i++];
    s->name = NULL;
    s->inline_val = NULL;
    if (a[0] == '-' && a[1] == '-' && a[2]) {
        const char *eq = strchr(a, '=');
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof s->namebuf) n = sizeof s->namebuf - 1;
            memcpy(s->namebuf, a, n);
            s->namebuf[n] = '\0';
            s->name = s->namebuf;
            s->inline_val = eq + 1;
        } else {
            s->name = a;
        }
    } else if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
        s->name = a;
    }
    return a;
}

const char *ctlargs_value(ctlargs *s)
{
    if (s->inline_val) return s->inline_val;
    if (s->i < s->argc) return s->argv[s->i++];
    ctlargs_usage_error("option %s needs a value", s->name);
    return NULL;
}

bool ctlargs_is(const ctlargs *s, const char *name) { return s->name && strcmp(s->name, name) == 0; }

bool ctlargs_flag(const ctlargs *s)
{
    if (!s->inline_val) return true;
    ctlargs_usage_error("option %s takes no value", s->name);
    return false;
}
