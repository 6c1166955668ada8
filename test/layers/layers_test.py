"""The layer rule of docs/architecture.md, "Layers": an include under src/ may point to its
own layer or to one below, never up; a public header (include/huddle/) includes only public
headers. Fails naming each include that breaks the rule.

Usage: layers_test.py SOURCE_ROOT
"""
import pathlib
import re
import sys

# What each layer may include besides itself. broker and auth sit side by side above store;
# load (the load generator) shares only core with the server.
ALLOWED = {
    "core": set(),
    "store": {"core"},
    "auth": {"core", "store"},
    "broker": {"core", "store"},
    "net": {"core", "store", "auth", "broker"},
    "app": {"core", "store", "auth", "broker", "net"},
    "load": {"core"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def violations(root):
    found = []
    src = root / "src"
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".hpp", ".cpp", ".h") or not path.is_file():
            continue
        layer = path.relative_to(src).parts[0]
        if layer not in ALLOWED:
            found.append(f"{path.relative_to(root)}: in no known layer (add it to {__file__})")
            continue
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            to = target.split("/")[0]
            if to in ALLOWED and to != layer and to not in ALLOWED[layer]:
                found.append(f"{path.relative_to(root)}: {layer} includes \"{target}\" ({to})")
    for path in sorted((root / "include" / "huddle").rglob("*.hpp")):
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(root)}: a public header includes \"{target}\"")
    return found


def main():
    root = pathlib.Path(sys.argv[1])
    if not (root / "src" / "core").is_dir():
        print(f"layers_test: {root} is not the source root")
        return 2
    found = violations(root)
    for line in found:
        print(line)
    print(f"layers_test: {len(found)} include(s) against the layer rule")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
