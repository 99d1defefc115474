"""Every pointer into docs/ that the sources, READMEs and docs make ("docs/dns.md#cache",
"[x](../docs/updates.md#replies)") must lead somewhere: the file exists and, with an anchor, one
of its headings makes that anchor (GitHub's rule: lower-case, punctuation dropped, spaces to
hyphens). Comments cite these instead of an outside document, so a renamed heading must not
leave them dangling.

Usage: python3 check_doc_links.py SOURCE_DIR. Prints each broken pointer as file:line and exits 1.
"""

import os
import re
import subprocess
import sys

POINTER = re.compile(r"(?:\.\./)*docs/([\w\-./]+\.md)(?:#([\w\-]+))?")


def anchors(path):
    found = set()
    in_code = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            if in_code or not line.startswith("#"):
                continue
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title)
            found.add(title.replace(" ", "-"))
    return found


def main():
    root = sys.argv[1]
    files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    cache = {}
    broken = 0
    for name in files:
        if not name.endswith((".cc", ".h", ".md", ".py", ".sh", ".txt", ".service", ".yaml")):
            continue
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                for match in POINTER.finditer(line):
                    doc, anchor = match.group(1), match.group(2)
                    target = os.path.join(root, "docs", doc)
                    if not os.path.isfile(target):
                        print("%s:%d: docs/%s does not exist" % (name, number, doc))
                        broken += 1
                        continue
                    if anchor and anchor not in cache.setdefault(target, anchors(target)):
                        print("%s:%d: docs/%s has no heading for #%s" % (name, number, doc, anchor))
                        broken += 1
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
