#!/usr/bin/env python3
"""Merge the library and GStreamer benchmark results, print the table, write
the combined JSON and draw the chart with gnuplot.

  report.py --lib LIB.json --gst GST.json --json OUT.json [--png OUT.png]
            [--command "what was run"]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GiB" % (int(f.readline().split()[1]) / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    gst = subprocess.run(["gst-launch-1.0", "--version"], capture_output=True,
                         text=True).stdout.splitlines()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "kernel": platform.release(),
            "gstreamer": gst[1] if len(gst) > 1 else "?",
            "load_average_at_end": os.getloadavg()}


def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def spread(v, spec="%.2f"):
    return "%s..%s" % (spec % min(v), spec % max(v)) if v else "-"


def print_table(lib, gst):
    cases = gst.get("cases", {}) if gst else {}
    # the sides compared (bench-gst.py --paths); ratios first / each other
    paths = gst.get("paths", ["zb", "shm"]) if gst else ["zb", "shm"]
    a, b = paths[:2]
    others = paths[1:]
    w = max(10, max(len(p) for p in paths) + 8)
    if cases:
        print("GStreamer, separate processes (median of %d runs, warm-up "
              "discarded)" % gst["reps"])
        head = "%-46s" % "case"
        for p in paths:
            head += " %14s" % (p + " buf/s")
        for o in others:
            head += " %9s" % ("%s/%s" % (a, o) if len(a) + len(o) < 9
                              else "ratio")
        for p in paths:
            head += " %*s" % (w, p + " cpu/buf")
        print(head)
        for key in ("1", "2", "3", "4"):
            e = cases.get(key)
            if not e:
                continue
            ratios = e.get("ratios", {b: e.get("ratio")})
            line = "%-46s" % ("%s. %s" % (key, e["title"]))
            extra = ""
            for p in paths:
                side = e.get(p, {})
                line += " %14s" % fmt(side.get("buffers_per_s"))
                if side.get("received_min", e["buffers"]) < e["buffers"]:
                    extra += "  [%s: %d of %d arrived, stalled]" % (
                        p, side["received_min"], e["buffers"])
            for o in others:
                line += " %9s" % fmt(ratios.get(o), "%.2f")
            for p in paths:
                line += " %*s us" % (w - 3, fmt(e.get(p, {}).get(
                    "cpu_per_buffer_us"), "%.2f"))
            print(line + extra)
        for key in ("5a", "5b", "5c", "5d"):
            e = cases.get(key)
            if not e:
                continue
            print("%s. %s (%d buffers; each percentile the median of the "
                  "runs)" % (key, e["title"], e["buffers"]))
            for name in paths:
                s = e.get(name, {})
                print("    %-6s p50 %8s us  p90 %8s us  p99 %8s us  max %8s "
                      "us  (%s received)" % (
                          name, fmt(s.get("p50"), "%.1f"),
                          fmt(s.get("p90"), "%.1f"), fmt(s.get("p99"), "%.1f"),
                          fmt(s.get("max"), "%.1f"), s.get("received", "-")))
        e = cases.get("6")
        if e:
            print("6. CPU of an idle blocked pair over %s s: %s" % (
                e["seconds"], ", ".join(
                    "%s %s %%" % (p, fmt(e.get(p, {}).get(
                        "cpu_percent_of_core"), "%.2f")) for p in paths)) +
                " of a core")
        # the spread: each repetition ran both sides one after the other
        rows = []
        for key in ("1", "2", "3", "4"):
            e = cases.get(key)
            if e and e.get("pair_ratios"):
                rows.append("    %-3s buf/s %s" % (
                    key, spread(e["pair_ratios"])))
        for key in ("5a", "5b", "5c", "5d"):
            e = cases.get(key)
            if e and e.get("pair_ratios"):
                pr = e["pair_ratios"]
                la, lb = e.get(a, {}), e.get(b, {})
                rows.append("    %-3s p50 %s (medians %s)  p99 %s (medians "
                            "%s)" % (
                                key, spread(pr.get("p50")),
                                fmt(la.get("p50") / lb["p50"]
                                    if la.get("p50") and lb.get("p50")
                                    else None, "%.2f"),
                                spread(pr.get("p99")),
                                fmt(la.get("p99") / lb["p99"]
                                    if la.get("p99") and lb.get("p99")
                                    else None, "%.2f")))
        if rows:
            print("%s/%s in each repetition (min..max of the %d pairs):"
                  % (a, b, gst["reps"]))
            print("\n".join(rows))
        print()
    if lib:
        print("Library, process to process (median of %d runs)" % lib["reps"])
        print("%-10s %14s %10s %14s %10s %9s" % (
            "frame", "zb frames/s", "zb GB/s", "memcpy fr/s", "memcpy GB/s",
            "zb/memcpy"))
        for t in lib["throughput"]:
            print("%-10d %14.0f %10.2f %14.0f %10.2f %9.2f" % (
                t["frame_bytes"], t["zb_frames_per_s"], t["zb_gbytes_per_s"],
                t["memcpy_frames_per_s"], t["memcpy_gbytes_per_s"],
                t["ratio"]))
        w = lib["wrap"]
        print("wrap overhead (%d-byte frames): ring 1.5x %.0f frames/s, "
              "ring 1x %.0f frames/s: %.1f %%" % (
                  w["frame_bytes"], w["ring_1_5x_frames_per_s"],
                  w["ring_1x_frames_per_s"], w["overhead_percent"]))


def chart(lib, gst, png):
    if shutil.which("gnuplot") is None:
        print("gnuplot not found: no chart", file=sys.stderr)
        return
    tmp = tempfile.mkdtemp(prefix="zbbench-")
    g = os.path.join(tmp, "gst.dat")
    t = os.path.join(tmp, "lat.dat")
    l = os.path.join(tmp, "lib.dat")
    cases = gst.get("cases", {}) if gst else {}
    labels = {"1": "1080p", "2": "1080p alloc", "3": "4K", "4": "1 KiB"}
    with open(g, "w") as f:
        for key in ("1", "2", "3", "4"):
            e = cases.get(key)
            if not e:
                continue
            f.write('"%s" %s %s\n' % (
                labels[key], e["zb"].get("buffers_per_s") or 0,
                e["shm"].get("buffers_per_s") or 0))
    with open(t, "w") as f:
        for key, name in (("5a", "1080p"), ("5c", "1080p alloc"),
                          ("5b", "1 KiB")):
            e = cases.get(key)
            if not e:
                continue
            for p in ("p50", "p99"):
                f.write('"%s %s" %s %s\n' % (
                    name, p, e["zb"].get(p) or 0, e["shm"].get(p) or 0))
    with open(l, "w") as f:
        for t_ in (lib or {}).get("throughput", []):
            size = t_["frame_bytes"]
            name = ("%d MiB" % (size >> 20) if size >= 1 << 20 else
                    "%d KiB" % (size >> 10) if size >= 1024 else
                    "%d B" % size)
            f.write('"%s" %s %s\n' % (name, t_["zb_gbytes_per_s"],
                                       t_["memcpy_gbytes_per_s"]))
    script = """
set terminal pngcairo size 1500,540 font ",10"
set output '%s'
set multiplot layout 1,3
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key below horizontal
set xtics rotate by -30 scale 0
set bmargin 7
set logscale y
set title "GStreamer, process to process: buffers/s (log)\\n1080p and 4K I420; 'alloc': memory from the sink"
plot '%s' using 2:xtic(1) title 'zbsink -> zbsrc' lc rgb '#2a7fcf', \\
     '' using 3 title 'shmsink -> shmsrc' lc rgb '#c0504d'
set title "GStreamer, one-way latency: microseconds (log)\\n1080p at 240 fps, 1 KiB at 1 kHz"
plot '%s' using 2:xtic(1) title 'zbsink -> zbsrc' lc rgb '#2a7fcf', \\
     '' using 3 title 'shmsink -> shmsrc' lc rgb '#c0504d'
unset logscale y
set yrange [0:*]
set title "libzerobuffer, process to process: GB/s\\nframe size"
plot '%s' using 2:xtic(1) title 'zb writer -> reader' lc rgb '#2a7fcf', \\
     '' using 3 title 'one memcpy, same size' lc rgb '#9bbb59'
unset multiplot
""" % (png, g, t, l)
    sp = os.path.join(tmp, "chart.gp")
    with open(sp, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", sp], check=True)
    shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib")
    ap.add_argument("--gst")
    ap.add_argument("--json", required=True)
    ap.add_argument("--png")
    ap.add_argument("--command", default="")
    a = ap.parse_args()
    lib = json.load(open(a.lib)) if a.lib and os.path.exists(a.lib) else None
    gst = json.load(open(a.gst)) if a.gst and os.path.exists(a.gst) else None
    print_table(lib, gst)
    out = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
           "command": a.command, "machine": machine(), "library": lib,
           "gstreamer": gst}
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
    print("\nJSON: %s" % a.json)
    # The chart shows the throughput and latency cases and the library
    # table together: a partial run (--no-lib, --cases) leaves the existing
    # chart alone.
    needed = ("1", "2", "3", "4", "5a", "5b", "5c")
    full = lib and gst and all(k in gst.get("cases", {}) for k in needed)
    # the chart compares zb with shm
    full = full and gst.get("paths", ["zb", "shm"])[:2] == ["zb", "shm"]
    if a.png and full:
        chart(lib, gst, a.png)
        print("chart: %s" % a.png)
    elif a.png:
        print("partial run: chart %s left as it was" % a.png)


if __name__ == "__main__":
    main()
