#!/usr/bin/env python3
"""The rooms' one-way dependencies, checked against the code.

Reads each module's declared dependencies from `triage_module(NAME DEPS...)` in
src/<module>/CMakeLists.txt, and fails when a file of a module includes a header of another
module that its declared dependencies do not reach (directly or through their own). With
--print it prints, per module, the modules it may use (what docs/architecture.md shows).
"""
import pathlib
import re
import sys

args = [a for a in sys.argv[1:] if a != "--print"]
src = pathlib.Path(args[0]) if args else pathlib.Path(__file__).resolve().parents[2] / "src"
modules = sorted(p.name for p in src.iterdir() if (p / "CMakeLists.txt").exists())

direct = {}
for m in modules:
    text = (src / m / "CMakeLists.txt").read_text()
    call = re.search(r"triage_module\(\s*(\w+)([^)]*)\)", text)
    deps = set()
    if call:
        deps = {d[len("triage_"):] for d in call.group(2).split() if d.startswith("triage_")}
    # An executable (cli) links with target_link_libraries.
    for link in re.findall(r"target_link_libraries\(\s*\w+\s+PRIVATE([^)]*)\)", text):
        deps |= {d[len("triage_"):] for d in link.split() if d.startswith("triage_")}
    direct[m] = deps


def reach(m, seen=None):
    seen = set() if seen is None else seen
    for d in direct.get(m, ()):
        if d not in seen:
            seen.add(d)
            reach(d, seen)
    return seen


allowed = {m: reach(m) | {m} for m in modules}

if "--print" in sys.argv:
    for m in modules:
        print(f"{m}: {', '.join(sorted(allowed[m] - {m})) or '(nothing)'}")
    sys.exit(0)

include = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
errors = []
for m in modules:
    for f in sorted((src / m).rglob("*")):
        if f.suffix not in (".h", ".cc"):
            continue
        for used in include.findall(f.read_text(errors="replace")):
            if used in modules and used not in allowed[m]:
                errors.append(f"{f.relative_to(src.parent)}: includes {used}/, which module "
                              f"'{m}' may not use (it may use: "
                              f"{', '.join(sorted(allowed[m] - {m})) or 'nothing'})")
for e in errors:
    print(e)
if errors:
    sys.exit(1)
print(f"module dependencies: {len(modules)} modules, every include within the declared graph")
