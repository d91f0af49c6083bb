#!/usr/bin/env python3
"""Five folds by repository over the LogChunks dev set: how the rules do on repositories held back.

The number that counts is measured on projects the rules never saw (issue 12), so the 40 dev
repositories are split into 5 folds of 8, by repository (never by log: logs of one repository
share its scripts and wording, which is what a rule must not learn). The split is fixed and
documented: repositories sorted by the SHA-256 of their name (`owner/repo`), the i-th goes to
fold i mod 5. It does not depend on the rules, the run or the order of labels.jsonl.

The rules are written by hand, not trained, so "develop on four, report on the fifth" is a way
of working: while a rule change is considered, only the misses of four folds are looked at
(`--hold K --misses`), then the held-back fold K must not lose (`--compare`). Every fold is
printed with M1/M2/M3 and the median excerpt size, then the mean of the five held-back folds,
then the whole-set number (the same as ../shared/tools/rca_score.py).

  python3 analysis/tools/folds.py [--data DIR] [--cmd 'BIN --json {}'] [--load run.json]
      [--save run.json] [--compare old.json] [--hold K [--misses]] [--list]

--save / --load use the row format of by_repo.py, so either tool can read the other's runs.
"""
import argparse, hashlib, json, os, statistics, sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import by_repo  # noqa: E402  (same per-log metrics; the pooled totals must equal the scorer's)

FOLDS = 5


def fold_of_repos(repos):
    """repository -> fold number, by the rank of sha256(name)."""
    ranked = sorted(set(repos), key=lambda r: hashlib.sha256(r.encode()).hexdigest())
    return {r: i % FOLDS for i, r in enumerate(ranked)}


def fold_scores(rows, folds):
    per = []
    for k in range(FOLDS):
        rs = [r for r in rows if folds[r['repo']] == k]
        p = by_repo.pooled(rs)
        per.append({
            'fold': k,
            'repos': sorted({r['repo'] for r in rs}),
            'logs': p['logs'],
            'M1': p['M1_head10'],
            'M2': p['M2_any_hit'],
            'M3': p['M3_full_le40'],
            'median': p['M4_median_lines'],
        })
    return per


def mean_of(per):
    return {k: round(statistics.mean(f[k] for f in per), 1) for k in ('M1', 'M2', 'M3', 'median')}


def fmt(f):
    return f"M1 {f['M1']:5.1f}  M2 {f['M2']:5.1f}  M3 {f['M3']:5.1f}  median {f['median']:4}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=by_repo.DEFAULT_DATA)
    ap.add_argument('--cmd', default=by_repo.DEFAULT_CMD)
    ap.add_argument('--load', help='read results saved by --save (here or by by_repo.py)')
    ap.add_argument('--save')
    ap.add_argument('--compare', help='a saved run: per-fold change, flags a fold that lost')
    ap.add_argument('--hold', type=int, choices=range(FOLDS),
                    help='the fold held back while developing: --misses lists the other four only')
    ap.add_argument('--misses', action='store_true', help='list M1 misses (outside --hold)')
    ap.add_argument('--list', action='store_true', help='print the repositories of each fold')
    ap.add_argument('--json', action='store_true', help='one JSON object instead of the table')
    ap.add_argument('-j', type=int, default=2)
    a = ap.parse_args()

    labels = [json.loads(l) for l in open(os.path.join(a.data, 'labels.jsonl'))]
    folds = fold_of_repos(d['repository'] for d in labels)
    if a.load:
        rows = json.load(open(a.load))
    else:
        with ThreadPoolExecutor(a.j) as ex:
            reps = list(ex.map(lambda d: by_repo.run_one(a.cmd, a.data, d), labels))
        rows = [by_repo.per_log(a.data, d, r) for d, r in zip(labels, reps)]
    if a.save:
        with open(a.save, 'w') as f:
            json.dump(rows, f)

    per = fold_scores(rows, folds)
    held = mean_of(per)
    whole = by_repo.pooled(rows)
    old_per = fold_scores(json.load(open(a.compare)), folds) if a.compare else None

    if a.json:
        print(json.dumps({'folds': per, 'held_back_mean': held, 'whole_set': whole}))
        return
    for f in per:
        mark = '  <- held back' if a.hold == f['fold'] else ''
        line = f"fold {f['fold']} ({f['logs']:3} logs, {len(f['repos'])} repos)  {fmt(f)}"
        if old_per:
            o = old_per[f['fold']]
            d1, d2 = f['M1'] - o['M1'], f['M2'] - o['M2']
            line += f"   dM1 {d1:+5.1f} dM2 {d2:+5.1f}" + ('  <-- WORSE' if d1 < 0 or d2 < 0 else '')
        print(line + mark)
        if a.list:
            print('    ' + ', '.join(f['repos']))
    line = f"held-back mean                    {fmt(held)}"
    if old_per:
        o = mean_of(old_per)
        line += f"   dM1 {held['M1'] - o['M1']:+5.1f} dM2 {held['M2'] - o['M2']:+5.1f}"
    print(line)
    print(f"whole set ({whole['logs']} logs)             "
          f"M1 {whole['M1_head10']:5.1f}  M2 {whole['M2_any_hit']:5.1f}  "
          f"M3 {whole['M3_full_le40']:5.1f}  median {whole['M4_median_lines']:4}")

    if a.misses:
        for r in sorted(rows, key=lambda r: r['log']):
            if r['m1'] or (a.hold is not None and folds[r['repo']] == a.hold):
                continue
            print(f"{'M2' if r['m2'] else '--'} fold {folds[r['repo']]} {r['log']} chunk {r['chunk']} "
                  f"excerpt {r['ranges']} ({r['n']} lines) decisive {r['decisive']} "
                  f"[{r['rule']}] step {r['step']!r}")


if __name__ == '__main__':
    main()
