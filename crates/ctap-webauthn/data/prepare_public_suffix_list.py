#!/usr/bin/env python3
"""Makes public_suffix_list.txt (ctap-webauthn's rpId check) from a
public_suffix_list.dat: the rules only, comments and section markers dropped,
internationalised rules in their ASCII (punycode, "xn--") form since origins reach
the check in that form, one rule per line, sorted by bytes (the lookup
binary-searches the lines), after a header that names the source.

Also writes public_suffix_list.deflate next to this script: the same bytes as raw
DEFLATE (RFC 1951), which is what the crate compiles in.

Usage: prepare_public_suffix_list.py PUBLIC_SUFFIX_LIST_DAT "WHERE IT CAME FROM" > public_suffix_list.txt

Standard library only.
"""

import os
import sys
import zlib


def ascii_rule(rule: str) -> str:
    labels = []
    for label in rule.split("."):
        if label.isascii():
            labels.append(label)
        else:
            # RFC 3492 punycode of the label (the list is already lower case, NFC).
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(labels)


def main() -> None:
    path, origin = sys.argv[1], sys.argv[2]
    version = commit = "unknown"
    rules = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("// VERSION:"):
                version = line.split(":", 1)[1].strip()
            elif line.startswith("// COMMIT:"):
                commit = line.split(":", 1)[1].strip()
            # The format: one rule per line, up to the first white space; "//" comments.
            if not line or line.startswith("//"):
                continue
            rules.add(ascii_rule(line.split()[0]))
    text = (
        "// The Public Suffix List (https://publicsuffix.org/), ICANN and PRIVATE sections,\n"
        "// rules only, IDN rules in punycode, sorted; made by prepare_public_suffix_list.py.\n"
        f"// VERSION: {version}\n"
        f"// COMMIT: {commit}\n"
        f"// From: {origin}\n"
        "// This Source Code Form is subject to the terms of the Mozilla Public\n"
        "// License, v. 2.0. If a copy of the MPL was not distributed with this\n"
        "// file, You can obtain one at https://mozilla.org/MPL/2.0/.\n"
        "\n"
    ) + "".join(rule + "\n" for rule in sorted(rules, key=lambda r: r.encode("ascii")))
    sys.stdout.write(text)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = deflate.compress(text.encode("ascii")) + deflate.flush()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "public_suffix_list.deflate"), "wb") as f:
        f.write(deflated)


main()
