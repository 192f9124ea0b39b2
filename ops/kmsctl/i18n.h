/* i18n.h: kmsctl's messages in the user's language (GNU gettext, domain "kmsctl").
 * English is the default and the fallback; a catalog per language lives in
 * ops/kmsctl/po/LANG.po. _() marks and translates a message; N_() only marks one. */
#ifndef KMSHA_I18N_H
#define KMSHA_I18N_H

#include <libintl.h>

#define _(msgid) gettext(msgid)
#define N_(msgid) (msgid)

/* Takes the language from the environment (LC_ALL, LC_MESSAGES, LANG, LANGUAGE) and binds
 * the catalogs: those built beside the program (a build tree's locale/), else the
 * installed ones. */
void i18n_init(void);

#endif
