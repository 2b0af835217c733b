"""Sections of a generated Markdown report (docs/validation.md): each validation script owns
one top-level section (a line starting with its title) and rewrites only that section."""
from pathlib import Path


def replace_section(path, title, text):
    """Write `text` (which starts with the line `title...`) as the section `title` of the file
    at path: in place of the old section (up to the next top-level '# ' heading), or appended.
    Other sections are kept as they are."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if title in old:
        head, rest = old.split(title, 1)
        nxt = rest.find("\n# ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
    else:
        head, tail = old, ""
    parts = [p.strip("\n") for p in (head, text, tail) if p.strip("\n")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(parts) + "\n")


def run_all(tasks, fn, jobs):
    """fn(*task) for every task on `jobs` threads (each task runs a subprocess), printing
    'done: RESULT' in task order."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(jobs) as ex:
        for out in ex.map(lambda t: fn(*t), tasks):
            print(f"done: {out}", flush=True)
