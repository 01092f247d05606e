#!/usr/bin/env python3
"""Turn fio-bench's raw runs (OUT/raw/*.meta, *.json, *.log) into
OUT/results.md, OUT/results.csv (medians), OUT/runs.csv (every run) and
OUT/iops.dat + OUT/iops.gp (gnuplot).  Standard library only.

usage: report.py OUT WORKLOADS ENGINES   (comma lists, in display order)
"""
import csv
import glob
import json
import math
import os
import re
import statistics
import sys

NA = "n/a (not preloaded)"
ERR = "error"


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, val = line.rstrip("\n").partition("=")
            meta[key] = val
    return meta


def kaio_line(log):
    try:
        with open(log, errors="replace") as f:
            for line in f:
                if line.startswith("kaio_posix:"):
                    return line.strip()
    except OSError:
        pass
    return None


def pct(lat, p):
    v = lat.get("percentile", {}).get("%.6f" % p)
    return v / 1000.0 if v is not None else None


def proc_cpu(meta):
    try:
        _real, user, sys_ = (float(x) for x in meta["time_real_user_sys"].split())
        return user, sys_
    except (KeyError, ValueError):
        return None, None


def load_run(base, baseline_cpu):
    meta = read_meta(base + ".meta")
    eng = meta["engine"]
    run = {"rep": int(meta["rep"]), "workload": meta["workload"], "engine": eng,
           "rc": meta["rc"], "cached_pct": meta.get("cached_pct", "-"),
           "status": "ok", "kaio_line": ""}
    user, sys_ = proc_cpu(meta)
    run["proc_user_s"], run["proc_sys_s"] = user, sys_
    if meta["rc"] == "skipped":
        run["status"] = "na"
        return run
    if eng.startswith("kaio"):
        line = kaio_line(base + ".log")
        run["kaio_line"] = line or ""
        # Without its evidence run (--evidence-last) a run is vouched for
        # by the last rep's (the cell is n/a if no run of it has a line).
        if line is None and meta.get("evidence", "1") == "1":
            run["status"] = "na"
    if meta["rc"] != "0":
        run["status"] = "error"
        return run
    try:
        with open(base + ".json") as f:
            text = f.read()
        # fio writes notes ("note: both iodepth >= 1 and synchronous I/O
        # engine are selected ...") into the output file before the JSON.
        start = 0 if text.startswith("{") else text.index("\n{") + 1
        job = json.loads(text[start:])["jobs"][0]
    except (OSError, ValueError, KeyError, IndexError):
        run["status"] = "error"
        return run
    if job.get("error", 0):
        run["status"] = "error"
        return run
    rd, wr = job["read"], job["write"]
    ios = rd["total_ios"] + wr["total_ios"]
    main = wr if wr["total_ios"] > rd["total_ios"] else rd
    run["iops"] = rd["iops"] + wr["iops"]
    run["ios"] = ios
    run["sync_ios"] = job.get("sync", {}).get("total_ios", 0)
    run["sync_per_32w"] = 32.0 * run["sync_ios"] / wr["total_ios"] if wr["total_ios"] else None
    run["lat_p50_us"] = pct(main["lat_ns"], 50)
    run["lat_p99_us"] = pct(main["lat_ns"], 99)
    thread_s = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * job["job_runtime"] / 1000.0
    run["fio_thread_cpu_us_per_io"] = thread_s * 1e6 / ios if ios else None
    if user is not None and ios:
        run["cpu_us_per_io"] = max(user + sys_ - baseline_cpu, 0.0) * 1e6 / ios
    else:
        run["cpu_us_per_io"] = None
    return run


def fmt_iops(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def fmt_ratio(a, b):
    if isinstance(a, float) and isinstance(b, float) and b > 0:
        return "%.2fx" % (a / b)
    return "n/a"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def median_ci(vals, level=0.95):
    """The sign test's interval for the median of sorted vals: the k-th
    smallest and k-th largest, k as large as keeps coverage >= level
    (with too few values, min-max and its own coverage)."""
    n = len(vals)
    def cover(k):  # P(x_(k) <= median <= x_(n-k+1))
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n
    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= level:
        k += 1
    return vals[k - 1], vals[n - k], cover(k)


def main():
    out, workloads, engines = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    raw = os.path.join(out, "raw")

    baselines = []
    for m in glob.glob(os.path.join(raw, "r*-all-baseline.meta")):
        meta = read_meta(m)
        u, s = proc_cpu(meta)
        if meta["rc"] == "0" and u is not None:
            baselines.append(u + s)
    baseline_cpu = statistics.median(baselines) if baselines else 0.0

    runs = []
    for m in sorted(glob.glob(os.path.join(raw, "r*-*.meta"))):
        if m.endswith("-baseline.meta"):
            continue
        runs.append(load_run(m[:-5], baseline_cpu))

    # Medians per (workload, engine): a number, NA or ERR.
    cells = {}
    for wl in workloads:
        for eng in engines:
            rs = [r for r in runs if r["workload"] == wl and r["engine"] == eng]
            c = {"runs": rs}
            if not rs:
                c["state"] = "missing"
            elif any(r["status"] == "error" for r in rs):
                c["state"] = ERR
            elif any(r["status"] == "na" for r in rs) or (
                    eng.startswith("kaio") and not any(r["kaio_line"] for r in rs)):
                c["state"] = NA
            else:
                c["state"] = "ok"
                for k in ("iops", "cpu_us_per_io", "lat_p50_us", "lat_p99_us", "sync_per_32w"):
                    vals = [r[k] for r in rs if r.get(k) is not None]
                    c[k] = float(statistics.median(vals)) if vals else None
                c["iops_min"] = min(r["iops"] for r in rs)
                c["iops_max"] = max(r["iops"] for r in rs)
            cells[(wl, eng)] = c

    def val(wl, eng, key):
        c = cells.get((wl, eng))
        if c is None or c["state"] != "ok":
            return None
        return c.get(key)

    def cell(wl, eng, key, fmt):
        c = cells[(wl, eng)]
        if c["state"] != "ok":
            return c["state"]
        v = c.get(key)
        return fmt(v) if v is not None else "n/a"

    md = []
    with open(os.path.join(out, "header.md")) as f:
        md += f.read().rstrip("\n").split("\n")
    cached = [int(r["cached_pct"]) for r in runs if r["cached_pct"].isdigit()]
    if cached:
        md.append("- hot-* runs: file resident in the page cache before each run: min %d%%" % min(cached))
    md.append("- fio's own CPU for an idle run of this length (subtracted from CPU figures): %.0f ms"
              % (baseline_cpu * 1000))
    md.append("")

    ratios = [(a, b) for a, b in (("kaio", "glibc"), ("kaio", "io_uring"), ("kaio", "libaio"),
                                  ("kaio", "floor"), ("kaio", "nowait"), ("kaio", "ring"),
                                  ("kaio", "aioshim"), ("ring", "io_uring"),
                                  ("aioshim", "libaio"), ("nowait", "psync"))
              if a in engines and b in engines]

    md.append("## IOPS (median)")
    md.append("")
    head = ["workload"] + engines + ["%s/%s" % r for r in ratios]
    rows = []
    for wl in workloads:
        rows.append([wl] + [cell(wl, e, "iops", fmt_iops) for e in engines]
                    + [fmt_ratio(val(wl, a, "iops"), val(wl, b, "iops")) for a, b in ratios])
    md += table(head, rows)
    md.append("")

    # Paired: a rep runs every engine of a workload back to back, so each
    # rep's ratio compares engines on the same state of the host and its
    # disk, which on a VM swings by a quarter or more between reps.
    def rep_runs(wl, eng):  # rep -> IOPS
        return {r["rep"]: r["iops"] for r in cells[(wl, eng)]["runs"]
                if r["status"] == "ok" and r.get("iops")}

    pairs = [(b, b) for b in ("io_uring", "libaio", "psync", "pvsync2", "floor", "nowait",
                              "ring", "aioshim")
             if b in engines]
    if "io_uring" in engines and "libaio" in engines:
        pairs.append(("better kernel engine", ("io_uring", "libaio")))
    if "kaio" in engines and pairs:
        def paired(wl, ref):
            k = rep_runs(wl, "kaio")
            refs = ref if isinstance(ref, tuple) else (ref,)
            rr = [rep_runs(wl, b) for b in refs]
            vals = [k[n] / max(x[n] for x in rr) for n in k
                    if all(n in x and x[n] > 0 for x in rr)]
            if not vals:
                return "n/a"
            return "%.2fx (%.2f-%.2f)" % (statistics.median(vals), min(vals), max(vals))

        md.append("## kaio/X paired by rep (median of each rep's ratio, min-max)")
        md.append("")
        head = ["workload"] + ["kaio/%s" % name for name, _ in pairs]
        rows = [[wl] + [paired(wl, ref) for _, ref in pairs] for wl in workloads]
        md += table(head, rows)
        md.append("")

    # Issue 14's floors, judged on the paired ratios: each rep's kaio over
    # that rep's reference, and a distribution-free confidence interval of
    # their median (order statistics of a sign test), so that a floor a few
    # per cent below the median is only called met when the reps resolve it.
    if "kaio" in engines:
        def floor_of(wl):
            if wl.startswith("randwrite"):
                return ("io_uring",), 0.95, "io_uring"
            if re.search(r"-j4(-files)?$", wl):
                return ("io_uring",), 0.90, "io_uring, same numjobs"
            if re.match(r"hot-qd(1|32)$", wl):
                return ("psync",), 0.90, "psync"
            if re.match(r"direct-qd(1|32)$", wl):
                return ("io_uring", "libaio"), 0.97, "better of io_uring, libaio"
            return None

        frows = []
        for wl in workloads:
            f = floor_of(wl)
            if f is None or not all(b in engines for b in f[0]):
                continue
            refs, lim, name = f
            # "The better engine" is the one with the higher median: a
            # rep's better of two noisy runs would be a biased reference.
            best = max(refs, key=lambda b: val(wl, b, "iops") or 0)
            if len(refs) > 1:
                name = "%s (the better)" % best
            k = rep_runs(wl, "kaio")
            rr = [rep_runs(wl, best)]
            vals = sorted(k[n] / max(x[n] for x in rr) for n in k
                          if all(n in x and x[n] > 0 for x in rr))
            if not vals:
                frows.append([wl, name, "%.2f" % lim, "n/a", "", "", "no pairs"])
                continue
            lo, hi, cover = median_ci(vals)
            if lo >= lim:
                verdict = "met"
            elif hi < lim:
                verdict = "missed"
            elif statistics.median(vals) >= lim:
                verdict = "median above, not resolved"
            else:
                verdict = "median below, not resolved"
            frows.append([wl, name, "%.2f" % lim, "%.2fx" % statistics.median(vals),
                          "%.2f-%.2f (%.0f%%)" % (lo, hi, cover * 100), str(len(vals)), verdict])
        if frows:
            md.append("## Floors of issue 14, paired by rep")
            md.append("")
            md.append("kaio over the reference in the same rep; the interval is the median's "
                      "distribution-free confidence interval (sign test, coverage in brackets). "
                      "met: its lower end is at or above the floor; missed: its upper end is below.")
            md.append("")
            md += table(["workload", "reference", "floor", "median ratio", "interval", "pairs",
                         "verdict"], frows)
            md.append("")

    md.append("## CPU µs per I/O (median; user+sys of the whole fio process, all threads, "
              "minus fio's idle cost)")
    md.append("")
    cratios = [r for r in ratios if r == ("kaio", "glibc")]
    head = ["workload"] + engines + ["%s/%s" % r for r in cratios]
    rows = []
    for wl in workloads:
        rows.append([wl] + [cell(wl, e, "cpu_us_per_io", lambda v: "%.2f" % v) for e in engines]
                    + [fmt_ratio(val(wl, a, "cpu_us_per_io"), val(wl, b, "cpu_us_per_io"))
                       for a, b in cratios])
    md += table(head, rows)
    md.append("")

    md.append("## Latency p50 / p99 µs (median; submission to completion)")
    md.append("")
    rows = []
    for wl in workloads:
        row = [wl]
        for e in engines:
            c = cells[(wl, e)]
            p50, p99 = val(wl, e, "lat_p50_us"), val(wl, e, "lat_p99_us")
            row.append(c["state"] if c["state"] != "ok" else
                       ("%.1f / %.1f" % (p50, p99) if p50 is not None and p99 is not None else "n/a"))
        rows.append(row)
    md += table(["workload"] + engines, rows)
    md.append("")

    wr = [wl for wl in workloads if "fsync" in wl]
    if wr:
        md.append("## fsyncs issued per 32 writes (median)")
        md.append("")
        md.append("fio < 3.37 re-issues the fsync until the first one completes (axboe/fio#1754), "
                  "so at iodepth > 1 the count depends on the engine; 1.00 = exactly one per 32 writes.")
        md.append("")
        rows = []
        for wl in wr:
            rows.append([wl] + [cell(wl, e, "sync_per_32w", lambda v: "%.2f" % v) for e in engines])
        md += table(["workload"] + engines, rows)
        md.append("")

    extra = [e for e in engines if e.startswith("kaio-")]
    refs = [b for b in ("glibc", "io_uring", "libaio") if b in engines]
    if extra and refs:
        md.append("## kaio rows: IOPS ratios")
        md.append("")
        rows = []
        for wl in workloads:
            for e in [x for x in engines if x.startswith("kaio")]:
                rows.append([wl, e] + [fmt_ratio(val(wl, e, "iops"), val(wl, b, "iops")) for b in refs])
        md += table(["workload", "row"] + ["x %s" % b for b in refs], rows)
        md.append("")

    kaio_engines = [e for e in engines if e.startswith("kaio")]
    if kaio_engines:
        md.append("## Preload evidence (`kaio_posix:` line of the 1 s `KAIO_STATS=1` run after each kaio run, last rep)")
        md.append("")
        md.append("```")
        for wl in workloads:
            for e in kaio_engines:
                rs = sorted(cells[(wl, e)]["runs"], key=lambda r: r["rep"])
                line = rs[-1]["kaio_line"] if rs else ""
                md.append("%-22s %-14s %s" % (wl, e, line or "(none: " + NA + ")"))
        md.append("```")
        md.append("")

    md.append("Rows: glibc = fio posixaio, no preload; kaio = posixaio with LD_PRELOAD, "
              "KAIO_BACKEND unset (auto), KAIO_STATS unset; kaio-X = KAIO_BACKEND=X; floor = posixaio with LD_PRELOAD "
              "of bench/posixaio-floor.c, which does each transfer with pread/pwrite before "
              "aio_read/aio_write return (the least a POSIX AIO library can cost under this "
              "engine; it blocks the caller, so only its cached rows mean that); nowait = the same shim "
              "reading with preadv2(RWF_NOWAIT) first, as a library that never blocks its caller "
              "must (the least such a library can cost); ring = posixaio with "
              "LD_PRELOAD of bench/posixaio-ring.c, one io_uring entry per request and nothing else "
              "(the least a ring-backed POSIX AIO library can cost under this engine); aioshim = the "
              "same over native AIO (io_submit, the completion ring read in user space, "
              "io_getevents), bench/posixaio-kaio.c; io_uring, "
              "libaio, psync, pvsync2 = fio's own engines (pvsync2: preadv2/pwritev2, the call a "
              "read that must not block makes, RWF_NOWAIT, where psync's is pread). Raw fio JSON and stderr per run: raw/. Every run: runs.csv.")
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "engine", "status", "reps", "iops_median", "iops_min", "iops_max",
                    "cpu_us_per_io_median", "lat_p50_us_median", "lat_p99_us_median"])
        for wl in workloads:
            for e in engines:
                c = cells[(wl, e)]
                g = lambda k: ("%.3f" % c[k]) if c.get(k) is not None else ""
                w.writerow([wl, e, c["state"], len(c["runs"]), g("iops"), g("iops_min"),
                            g("iops_max"), g("cpu_us_per_io"), g("lat_p50_us"), g("lat_p99_us")])

    keys = ["rep", "workload", "engine", "status", "rc", "iops", "ios", "sync_ios",
            "sync_per_32w", "proc_user_s", "proc_sys_s", "cpu_us_per_io", "fio_thread_cpu_us_per_io",
            "lat_p50_us", "lat_p99_us", "cached_pct", "kaio_line"]
    with open(os.path.join(out, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in sorted(runs, key=lambda r: (r["rep"], workloads.index(r["workload"])
                                             if r["workload"] in workloads else 99,
                                             engines.index(r["engine"])
                                             if r["engine"] in engines else 99)):
            w.writerow(["" if r.get(k) is None else
                        ("%.3f" % r[k] if isinstance(r[k], float) else r[k]) for k in keys])

    # gnuplot: clustered bars, one cluster per workload, log y.
    with open(os.path.join(out, "iops.dat"), "w") as f:
        f.write("workload " + " ".join('"%s"' % e for e in engines) + "\n")
        for wl in workloads:
            vs = [val(wl, e, "iops") for e in engines]
            f.write(wl + " " + " ".join("?" if v is None else "%.0f" % v for v in vs) + "\n")
    got = [v for v in (val(wl, e, "iops") for wl in workloads for e in engines) if v]
    ymax = 10 ** math.ceil(math.log10(max(got + [10])) + 0.01)
    ymin = 10 ** math.floor(math.log10(min(got + [ymax / 10])))
    with open(os.path.join(out, "iops.gp"), "w") as f:
        f.write("""set terminal pngcairo size 1200,680 noenhanced
set output 'iops.png'
set title 'fio 4 KiB, IOPS (median), log scale; missing bar = n/a'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set yrange [%g:%g]
set format y '%%.0s%%c'
set ylabel 'IOPS'
set grid ytics
set key outside right top
set xtics rotate by 25 right
plot for [i=2:%d] 'iops.dat' using i:xtic(1) title columnheader(i)
""" % (ymin, ymax, len(engines) + 1))


if __name__ == "__main__":
    main()
