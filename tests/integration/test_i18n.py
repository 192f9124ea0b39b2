"""kmsctl speaks its users' language: with a Japanese locale `kmsctl status` prints the
lines of Windows' own Japanese `slmgr /dlv` (現在の数, 受信した要求の合計数, ...), English
otherwise; the Japanese catalog covers every message kmsctl marks for translation. Real
node on loopback."""
import os
import re
import shutil
import subprocess
import unittest

from harness import KMSCTL, ROOT, NodeTestCase, activate, main


def has_locale(name):
    p = subprocess.run(["locale", "-a"], capture_output=True, text=True)
    return name.lower().replace("-", "") in p.stdout.lower().replace("-", "")


def status_text(node, lang):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k not in ("LANG", "LANGUAGE")}
    env["LANG"] = lang
    p = subprocess.run([KMSCTL, "status", "--admin", "%s:%d" % (node.host, node.admin_port)],
                       capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return p.stdout


class I18nTests(NodeTestCase):
    @unittest.skipUnless(has_locale("ja_JP.utf8"), "the ja_JP.UTF-8 locale is not generated (scripts/deps.sh does it)")
    def test_status_in_japanese(self):
        n = self.node().start()
        activate(n)
        text = status_text(n, "ja_JP.UTF-8")
        for line in ["現在の数:", "受信した要求の合計数: 1", "受信した失敗した要求の数: 0",
                     "ライセンスの状態が初期猶予期間の要求数: 1", "稼働時間: "]:
            self.assertIn(line, text)
        self.assertNotIn("Current count", text)
        self.assertRegex(text, r"稼働時間: \d+ (秒|分)")

    def test_status_in_english_by_default(self):
        n = self.node().start()
        activate(n)
        for lang in ("C", "en_US.UTF-8", "de_DE.UTF-8"):  # a language with no catalog falls back to English
            text = status_text(n, lang)
            self.assertIn("Current count:", text)
            self.assertIn("Total requests received: 1", text)
            self.assertRegex(text, r"Uptime: \d+ (s|min)")
            self.assertNotIn("現在の数", text)

    @unittest.skipUnless(shutil.which("xgettext") and shutil.which("msgfmt"), "gettext tools are not installed")
    def test_catalog_is_complete(self):
        sources = [os.path.join(ROOT, "ops", "kmsctl", f) for f in sorted(os.listdir(os.path.join(ROOT, "ops", "kmsctl")))
                   if f.endswith(".c")]
        pot = os.path.join(self.workdir, "kmsctl.pot")
        p = subprocess.run(["xgettext", "--from-code=UTF-8", "--keyword=_", "--keyword=N_", "-o", pot] + sources,
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        po = os.path.join(ROOT, "ops", "kmsctl", "po", "ja.po")
        merged = os.path.join(self.workdir, "merged.po")
        p = subprocess.run(["msgmerge", "--no-fuzzy-matching", "-q", "-o", merged, po, pot], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, merged], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotRegex(p.stderr, r"untranslated|fuzzy", "messages without a Japanese translation: " + p.stderr)


if __name__ == "__main__":
    main()
