#!/usr/bin/env python3
"""Runs a PHP child (tests/residue/child.php) and counts, in its memory, the
occurrences of each needle: every readable region of /proc/<pid>/maps is read
through /proc/<pid>/mem while the child waits after its orders.

usage: scan.py NAME=EXPECT:VALUE_FILE ... -- php args...
  EXPECT is 0 (must not be found), + (must be found: a control) or ? (report only).
  VALUE_FILE may be @LOG.jsonl: every Bearer token sent to /bearer/... (OAuth2
  access tokens issued by the receiver) in the receiver's log (read
  when the child is ready, so tokens it obtained count).
Exits 1 when an expectation fails. Prints one line per needle, with where any
hit was found (region and offset), never the value.
"""
import json, subprocess, sys


def regions(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5].strip() if len(parts) > 5 else "[anon]"
            if perms[0] != "r" or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            yield lo, hi, name


def scan(pid, needles):
    hits = {n: [] for n in needles}
    total = 0
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, name in regions(pid):
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            total += len(data)
            for n, value in needles.items():
                start = 0
                while (i := data.find(value, start)) >= 0:
                    hits[n].append(f"{name}+0x{i:x}")
                    start = i + 1
    return hits, total


def main():
    sep = sys.argv.index("--")
    specs, cmd = sys.argv[1:sep], sys.argv[sep + 1:]
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
    line = child.stdout.readline().decode()
    if not line.startswith("READY"):
        child.kill()
        sys.exit(f"child did not get ready: {line!r} (exit {child.wait()})")
    needles, expect = {}, {}
    for spec in specs:
        name, rest = spec.split("=", 1)
        exp, path = rest.split(":", 1)
        expect[name] = exp
        if path.startswith("@"):
            with open(path[1:]) as f:
                entries = [json.loads(l) for l in f if l.strip()]
            auths = [e.get("headers", {}).get("authorization", "") for e in entries
                     if e.get("path", "").startswith("/bearer/")]
            tokens = sorted({a[7:].encode() for a in auths if a.startswith("Bearer ")})
            for i, t in enumerate(tokens):
                needles[f"{name}#{i + 1}"], expect[f"{name}#{i + 1}"] = t, exp
            del expect[name]
            continue
        with open(path, "rb") as f:
            value = f.read().strip()
        if len(value) < 8:
            sys.exit(f"{name}: needle too short")
        needles[name] = value
    hits, total = scan(child.pid, needles)
    child.stdin.close()
    child.wait()
    ok = True
    print(f"  scanned {total / 1048576:.1f} MiB of process {child.pid}")
    for name, found in hits.items():
        want = expect[name]
        good = (want == "0" and not found) or (want == "+" and bool(found)) or want == "?"
        ok &= good
        where = (": " + ", ".join(found[:8]) + (" ..." if len(found) > 8 else "")) if found else ""
        label = {"0": "must be 0", "+": "control, must be > 0", "?": "reported"}[want]
        print(f"  {'ok  ' if good else 'FAIL'} {name}: {len(found)} copies ({label}){where}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
