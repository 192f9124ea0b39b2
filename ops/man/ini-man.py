#!/usr/bin/env python3
"""ini-man.py VERSION REFERENCE.md TEMPLATE OUT: writes kmsha.ini(5) from the settings
table as `kmsd --config-reference` prints it (Markdown), so the manual page is generated
from the one place settings are described and is current by construction. The template
holds the page's fixed parts; @VERSION@ and @SETTINGS@ are filled in here."""
import re
import sys


def roff(text):
    """Markdown cell text to roff: `code` in bold, escapes for backslash, dashes, leading dots."""
    text = text.replace("\\|", "|").replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]*)`", lambda m: "\\fB" + m.group(1) + "\\fR", text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def main():
    version, ref_path, template_path, out_path = sys.argv[1:5]
    lines = open(ref_path, encoding="utf-8").read().splitlines()
    out = []
    section = None
    in_settings = in_peer = False
    for line in lines:
        if line.startswith("| Section | Key |"):
            in_settings = True
            continue
        if line.startswith("| Key | Meaning |"):
            in_peer = True
            out.append(".SS \"[peer.ID]\"")
            continue
        if line.startswith("|---"):
            continue
        if in_settings and line.startswith("| "):
            sec, key, typ, default, rng, reload_, desc = cells(line)
            if sec != section:
                section = sec
                out.append(".SS \"[%s]\"" % sec)
            out.append(".TP")
            out.append("%s (%s; default %s; %s; reload: %s)" % (
                roff(key), roff(typ), roff(default), roff(rng), roff(reload_)))
            out.append(roff(desc))
            continue
        if in_peer and line.startswith("| "):
            key, meaning = cells(line)
            out.append(".TP")
            out.append(roff(key))
            out.append(roff(meaning))
            continue
        in_settings = False
        if line.strip():
            out.append(".PP")
            out.append(roff(line))
    page = open(template_path, encoding="utf-8").read()
    page = page.replace("@VERSION@", version).replace("@SETTINGS@", "\n".join(out))
    open(out_path, "w", encoding="utf-8").write(page)


if __name__ == "__main__":
    main()
