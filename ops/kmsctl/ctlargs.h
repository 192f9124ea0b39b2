/* ctlargs.h: the option scanner every kmsctl subcommand uses: "--name value",
 * "--name=value", flags, "-h", and positional arguments; plus the one way a subcommand
 * reports bad usage ("kmsctl: ..." and a hint on stderr; the caller returns 2). */
#ifndef KMSHA_CTLARGS_H
#define KMSHA_CTLARGS_H

#include <stdbool.h>

typedef struct ctlargs {
    int argc, i;
    char **argv;
    const char *name;  /* the current option without "=value"; NULL for a positional */
    char namebuf[64];
    const char *inline_val;
} ctlargs;

/* Returns the next argument (an option sets a->name), or NULL at the end. */
const char *ctlargs_next(ctlargs *a);
/* The current option's value ("=value" or the next argument); NULL after printing an
 * error when it is missing. */
const char *ctlargs_value(ctlargs *a);
/* Is the current argument the option name? */
bool ctlargs_is(const ctlargs *a, const char *name);
/* true unless the current flag was given "=value" (then an error is printed). */
bool ctlargs_flag(const ctlargs *a);
/* Prints "kmsctl: <message>" and "Try 'kmsctl help' for usage." on stderr. */
void ctlargs_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
