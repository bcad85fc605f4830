#!/usr/bin/env python3
"""Where the receive CPU's time goes while `lanabench lab` runs.

Every 100 ms it reads, from /proc, the run time (schedstat, in ns) of every
NAPI kernel thread and of every lanabench and lanad* thread that last ran on
--cpu, their user and system ticks, and the CPU's idle time. It then reports,
per receiver (lanabench's own threads for the in-process rows such as asavie,
each lanad* binary name for the lanad rows), over the 100 ms intervals where
NAPI was busy at least half the time:

  rx/napi    the receiver's CPU time over the NAPI thread's: its cost per
             frame relative to the kernel's, whatever the machine's speed
  napi, rx   their shares of the CPU; idle: the CPU's idle share
  user       the receiver's user-space share of its own time (ticks)

Run it beside a lab, as root; rows of different lanad binaries are told apart
by the binary's name (a wrapper can alternate /tmp/lanad-A and /tmp/lanad-B):

  scripts/cpusplit.py --seconds 90 --out /tmp/split.json &
  lanabench lab --rows asavie,lanad-3 --runs 8 --chart ""
  scripts/cpusplit.py --report /tmp/split.json
"""
import argparse
import json
import os
import statistics
import sys
import time


def threads(cpu):
    """Run ns of NAPI threads, and (run ns, user, system) of receiver threads on cpu."""
    napi, rx = {}, {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            comm = open(f'/proc/{pid}/comm').read().strip()
        except OSError:
            continue
        if comm.startswith('napi/'):
            try:
                napi[pid] = int(open(f'/proc/{pid}/schedstat').read().split()[0])
            except OSError:
                pass
        elif comm == 'lanabench' or comm.startswith('lanad'):
            try:
                tids = os.listdir(f'/proc/{pid}/task')
            except OSError:
                continue
            for t in tids:
                try:
                    st = open(f'/proc/{pid}/task/{t}/stat').read().rsplit(')', 1)[1].split()
                    ns = int(open(f'/proc/{pid}/task/{t}/schedstat').read().split()[0])
                except OSError:
                    continue
                if int(st[36]) == cpu:
                    rx[(comm, t)] = (ns, int(st[11]), int(st[12]))
    return napi, rx


def idle_ticks(cpu):
    for line in open('/proc/stat'):
        if line.startswith(f'cpu{cpu} '):
            f = list(map(int, line.split()[1:]))
            return f[3] + f[4]
    return 0


def sample(args):
    hz = os.sysconf('SC_CLK_TCK')
    end = time.time() + args.seconds
    pn, pr = threads(args.cpu)
    pi, pt = idle_ticks(args.cpu), time.time()
    out = []
    while time.time() < end:
        time.sleep(0.1)
        cn, cr = threads(args.cpu)
        ci, ct = idle_ticks(args.cpu), time.time()
        row = {'dt': ct - pt, 'napi': sum(cn[k] - pn[k] for k in cn if k in pn),
               'idle': (ci - pi) / hz, 'rx': {}, 'user': {}, 'sys': {}}
        for k, (ns, u, s) in cr.items():
            if k in pr:
                name = k[0]
                row['rx'][name] = row['rx'].get(name, 0) + ns - pr[k][0]
                row['user'][name] = row['user'].get(name, 0) + u - pr[k][1]
                row['sys'][name] = row['sys'].get(name, 0) + s - pr[k][2]
        out.append(row)
        pn, pr, pi, pt = cn, cr, ci, ct
    with open(args.out, 'w') as f:
        json.dump(out, f)


def report(path):
    rows = json.load(open(path))
    busy = [r for r in rows if r['napi'] > 0.5e9 * r['dt']]
    names = sorted({n for r in rows for n in r['rx']})
    print(f'{len(rows)} intervals, {len(busy)} with NAPI busy')
    print(f'{"receiver":12s} {"n":>4s} {"rx/napi":>8s} {"q1":>6s} {"q3":>6s} {"napi":>6s} {"rx":>6s} {"idle":>6s} {"user":>6s}')
    for name in names:
        lanads = [o for o in names if o != name and o != 'lanabench']
        if name == 'lanabench':  # in-process rows: no lanad running
            sel = [r for r in busy if r['rx'].get(name, 0) > 5e6 and all(r['rx'].get(o, 0) < 1e6 for o in lanads)]
        else:
            sel = [r for r in busy if r['rx'].get(name, 0) > 5e6]
        if len(sel) < 4:
            continue
        ratio = [r['rx'][name] / r['napi'] for r in sel]
        q = statistics.quantiles(ratio, n=4)
        med = lambda xs: statistics.median(xs)
        u = sum(r['user'].get(name, 0) for r in sel)
        s = sum(r['sys'].get(name, 0) for r in sel)
        print(f'{name:12s} {len(sel):4d} {med(ratio):8.3f} {q[0]:6.3f} {q[2]:6.3f}'
              f' {med([r["napi"] / (r["dt"] * 1e9) for r in sel]):6.3f}'
              f' {med([r["rx"][name] / (r["dt"] * 1e9) for r in sel]):6.3f}'
              f' {med([r["idle"] / r["dt"] for r in sel]):6.3f}'
              f' {u / max(u + s, 1):6.2f}')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seconds', type=float, default=90, help='how long to sample')
    p.add_argument('--cpu', type=int, default=1, help='the receive CPU')
    p.add_argument('--out', help='write the samples to this JSON file')
    p.add_argument('--report', metavar='FILE', help='report on samples written by --out')
    args = p.parse_args()
    if args.report:
        report(args.report)
    elif args.out:
        sample(args)
    else:
        p.error('--out or --report')


if __name__ == '__main__':
    sys.exit(main())
