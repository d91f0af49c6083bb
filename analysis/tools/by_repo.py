#!/usr/bin/env python3
"""Per-repository view of the LogChunks score, to see which repositories drive it.

The score that counts is taken on repositories we do not have, so the per-repository spread
(and the mean over repositories, each weighing the same) says more about generalization than
the pooled number. Per-log metrics are those of ../shared/tools/rca_score.py (same definitions,
40-line budget); the pooled totals printed here must equal the scorer's.

  python3 analysis/tools/by_repo.py [--data DIR] [--cmd 'BIN analyze --json {}'] \
      [--save run.json] [--compare old.json] [--misses] [--repo SUBSTR]

--save keeps every log's result (excerpt, decisive line, rule) so that a later run can
--compare against it: repositories whose M1/M2 changed, and logs that flipped.
"""
import argparse, json, os, shlex, statistics, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, '..', 'shared', 'data', 'logchunks-dev'))
DEFAULT_CMD = os.path.join(ROOT, 'target', 'release', 'exlogare-host') + ' analyze --json {}'
BUDGET = 40


def lines_of(path):
    with open(path, 'rb') as f:
        return f.read().split(b'\n')


def run_one(cmd, data, d):
    path = os.path.join(data, d['log'])
    out = subprocess.run(cmd.replace('{}', shlex.quote(path)), shell=True,
                         capture_output=True, timeout=60)
    rep = {}
    if out.returncode == 0:
        try:
            rep = json.loads(out.stdout)
        except ValueError:
            rep = {}
    return rep


def per_log(data, d, rep):
    raw = lines_of(os.path.join(data, d['log']))
    s, e = d['chunk_start_line'], d['chunk_end_line']
    labelled = [i for i in range(s, e + 1) if i - 1 < len(raw) and raw[i - 1].strip()]
    if not labelled:
        labelled = list(range(s, e + 1))
    head = labelled[:10]
    ex = set()
    ranges = []
    for r in rep.get('excerpt') or []:
        a, b = int(r['start_line']), int(r['end_line'])
        ranges.append((a, b))
        ex.update(range(a, b + 1))
    n = len(ex)
    ok = 0 < n <= BUDGET
    return {
        'log': d['log'],
        'repo': d['repository'],
        'chunk': [s, e],
        'ranges': ranges,
        'n': n,
        'm1': ok and all(i in ex for i in head),
        'm2': ok and any(i in ex for i in labelled),
        'm3d': e - s + 1 <= BUDGET,
        'm3': e - s + 1 <= BUDGET and ok and all(i in ex for i in range(s, e + 1)),
        'decisive': rep.get('decisive_line'),
        'rule': rep.get('category_rule'),
        'step': rep.get('failing_step'),
        'log_lines': d.get('log_line_count'),
    }


def pct(k, n):
    return 100.0 * k / n if n else 0.0


def summary(rows):
    by = {}
    for r in rows:
        by.setdefault(r['repo'], []).append(r)
    repos = {}
    for repo, rs in by.items():
        repos[repo] = {
            'logs': len(rs),
            'm1': pct(sum(r['m1'] for r in rs), len(rs)),
            'm2': pct(sum(r['m2'] for r in rs), len(rs)),
            'm3': pct(sum(r['m3'] for r in rs), sum(r['m3d'] for r in rs)),
        }
    return repos


def pooled(rows):
    N = len(rows)
    sizes = sorted(r['n'] for r in rows)
    return {
        'logs': N,
        'M1_head10': round(pct(sum(r['m1'] for r in rows), N), 1),
        'M2_any_hit': round(pct(sum(r['m2'] for r in rows), N), 1),
        'M3_full_le40': round(pct(sum(r['m3'] for r in rows), max(1, sum(r['m3d'] for r in rows))), 1),
        'M4_median_lines': statistics.median(sizes),
        'M4_p90_lines': sizes[int(0.9 * (N - 1))],
        'M5_located': round(pct(sum(1 for r in rows if r['n']), N), 1),
    }


def spread(repos, key):
    v = sorted(x[key] for x in repos.values())
    q = max(1, len(v) // 4)
    return {
        'mean_over_repos': round(statistics.mean(v), 1),
        'worst_quartile_mean': round(statistics.mean(v[:q]), 1),
        'p25': round(v[(len(v) - 1) // 4], 1),
        'median': round(statistics.median(v), 1),
        'min': round(v[0], 1),
        'repos_below_50': sum(1 for x in v if x < 50),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=DEFAULT_DATA)
    ap.add_argument('--cmd', default=DEFAULT_CMD)
    ap.add_argument('--load', help='read results saved by --save instead of running --cmd')
    ap.add_argument('--save')
    ap.add_argument('--compare')
    ap.add_argument('--misses', action='store_true', help='list every M1 miss')
    ap.add_argument('--repo', help='only repositories whose name contains this')
    ap.add_argument('-j', type=int, default=2)
    a = ap.parse_args()

    labels = [json.loads(l) for l in open(os.path.join(a.data, 'labels.jsonl'))]
    if a.repo:
        labels = [d for d in labels if a.repo.lower() in d['repository'].lower()]
    if a.load:
        rows = json.load(open(a.load))
    else:
        with ThreadPoolExecutor(a.j) as ex:
            reps = list(ex.map(lambda d: run_one(a.cmd, a.data, d), labels))
        rows = [per_log(a.data, d, r) for d, r in zip(labels, reps)]
    if a.save:
        with open(a.save, 'w') as f:
            json.dump(rows, f)

    repos = summary(rows)
    old_rows = json.load(open(a.compare)) if a.compare else None
    old_repos = summary(old_rows) if old_rows else {}

    print(f"{'repository':40} logs    M1     M2     M3" + ('   dM1   dM2' if old_rows else ''))
    for repo, m in sorted(repos.items(), key=lambda kv: (kv[1]['m1'], kv[1]['m2'], kv[0])):
        line = f"{repo:40} {m['logs']:4} {m['m1']:5.0f}% {m['m2']:5.0f}% {m['m3']:5.0f}%"
        if old_rows and repo in old_repos:
            o = old_repos[repo]
            d1, d2 = m['m1'] - o['m1'], m['m2'] - o['m2']
            line += f" {d1:+5.0f} {d2:+5.0f}" + ('  <-- WORSE' if d1 < 0 or d2 < 0 else '')
        print(line)
    print('pooled:', json.dumps(pooled(rows)))
    print('per-repo M1:', json.dumps(spread(repos, 'm1')))
    print('per-repo M2:', json.dumps(spread(repos, 'm2')))

    if old_rows:
        old = {r['log']: r for r in old_rows}
        for r in rows:
            o = old.get(r['log'])
            if not o:
                continue
            for k in ('m1', 'm2'):
                if o[k] != r[k]:
                    print(f"{'FIXED' if r[k] else 'BROKE'} {k} {r['log']} chunk {r['chunk']} "
                          f"was {o['ranges']} now {r['ranges']}")
    if a.misses:
        for r in sorted(rows, key=lambda r: r['log']):
            if not r['m1']:
                print(f"{'M2' if r['m2'] else '--'} {r['log']} chunk {r['chunk']} "
                      f"excerpt {r['ranges']} ({r['n']} lines) decisive {r['decisive']} "
                      f"[{r['rule']}] step {r['step']!r}")


if __name__ == '__main__':
    main()
