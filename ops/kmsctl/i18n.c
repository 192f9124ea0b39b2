/* i18n.c: see i18n.h. */
#include "ops/kmsctl/i18n.h"

#include <limits.h>
#include <locale.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KMSHA_LOCALEDIR
#define KMSHA_LOCALEDIR "/usr/share/locale"
#endif

void i18n_init(void)
{
    setlocale(LC_ALL, "");
    /* numbers and times stay as the tools print them everywhere (scripts parse them) */
    setlocale(LC_NUMERIC, "C");
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 16);
    const char *where = KMSHA_LOCALEDIR;
    if (n > 0) {
        dir[n] = 0;
        char *slash = strrchr(dir, '/');
        struct stat st;
        if (slash) {
            strcpy(slash + 1, "locale");
            if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) where = dir;
        }
    }
    bindtextdomain("kmsctl", where);
    bind_textdomain_codeset("kmsctl", "UTF-8");
    textdomain("kmsctl");
}
