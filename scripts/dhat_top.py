#!/usr/bin/env python3
"""Where a dhat heap profile (ams-hub built with `--features dhat-heap`) held its memory at the
peak (t-gmax): the allocation sites by bytes live at that moment, each with the first frames of
ams-hub's own code (and the library frame that allocated). Usage: dhat_top.py dhat-heap.json [N]"""
import json
import sys

profile = json.load(open(sys.argv[1]))
top = int(sys.argv[2]) if len(sys.argv) > 2 else 15
frames = profile["ftbl"]
pps = sorted(profile["pps"], key=lambda p: p.get("gb", 0), reverse=True)
total = sum(p.get("gb", 0) for p in pps)
print(f"peak heap (t-gmax): {profile.get('tg', 0) and total / 2**20:.1f} MiB over {len(pps)} sites")


def ours(frame):
    return any(k in frame for k in ("ams_", "sqlx", "hyper", "tokio", "actix", "serde"))


for p in pps[:top]:
    names = [frames[i] for i in p["fs"]]
    shown = [n for n in names if ours(n) and "alloc::" not in n][:4]
    print(f"{p.get('gb', 0) / 2**20:8.1f} MiB in {p.get('gbk', 0):6} blocks")
    for n in shown:
        print("           ", n[:160])
