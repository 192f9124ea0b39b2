/* jsonfile.h: JSON text written to stdio streams (kmsctl's backup manifest, kmsbench's
 * --json and --report files). */
#ifndef KMSHA_JSONFILE_H
#define KMSHA_JSONFILE_H

#include <stdio.h>

/* Writes s as a JSON string: quotes, backslash escapes for '"' and '\', control
 * characters as \u00XX; other bytes (UTF-8 included) as they are. */
void jsonfile_str(FILE *f, const char *s);

#endif
