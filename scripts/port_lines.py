"""Counts the code lines of each example port against its PyTorch twin
(scripts/torch_examples/NAME.py vs examples/NAME.rs): lines that are not blank, not
comments (#, //, //!, ///), not imports (import/from, use) and not only closing brackets
(`}`, `});`: Python's indentation has no such line). Run from anywhere:
python scripts/port_lines.py [git-rev]   (a rev counts the examples as of that commit)
"""
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
TWINS = os.path.join(ROOT, "scripts", "torch_examples")
rev = sys.argv[1] if len(sys.argv) > 1 else None


def code_lines(text, py):
    n = 0
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#" if py else "//"):
            continue
        if py and (s.startswith("import ") or s.startswith("from ")):
            continue
        if not py and (s.startswith("use ") or s.startswith("#[")):
            continue
        if not py and not s.strip("}]);,"):
            continue
        n += 1
    return n


total_py = total_rs = 0
for name in sorted(f[:-3] for f in os.listdir(TWINS) if f.endswith(".py")):
    with open(os.path.join(TWINS, name + ".py")) as f:
        py = code_lines(f.read(), True)
    path = f"examples/{name}.rs"
    if rev:
        r = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:{path}"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name:20} PyTorch {py:4}  kiln   (none at {rev})")
            continue
        text = r.stdout
    else:
        with open(os.path.join(ROOT, path)) as f:
            text = f.read()
    rs = code_lines(text, False)
    total_py += py
    total_rs += rs
    print(f"{name:20} PyTorch {py:4}  kiln {rs:4}  ratio {rs / py:.2f}")
print(f"{'total':20} PyTorch {total_py:4}  kiln {total_rs:4}  ratio {total_rs / total_py:.2f}")
