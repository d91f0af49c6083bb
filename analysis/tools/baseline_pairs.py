#!/usr/bin/env python3
"""What comparing with a green run changes, on pairs built from the LogChunks dev set.

LogChunks has failed logs only, so the "green" side of each pair is made, two ways:
--pair self: L itself with its labelled chunk removed (and every line that reads like a chunk
  line: a summary that repeats the failure) and its Travis exit lines set to 0, as the issue
  suggests: the new lines are the chunk, so this checks the mechanism (masking, demotion, the
  new-lines excerpt) and bounds what the comparison can give;
--pair next: the next log L' of the same repository (another build: its timestamps, durations,
  ids, ordering and versions differ) made green the same way (without L's chunk lines either).
  L' failed too, sometimes otherwise than its label says, so its "green" side may still hold
  failure lines that a real green run would not: a stress test, harsher than real use.
Each L is analysed alone and with `--baseline GREEN`, both scored as by_repo.py scores
(M1/M2/M3/median, held-back fold mean), with the time each took.

  python3 analysis/tools/baseline_pairs.py --bin /work/target-analysis/release/examples/analyze \
      [--pair self|next] [--data DIR] [--keep DIR] [--misses]
"""
import argparse, json, os, re, shlex, statistics, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import by_repo  # noqa: E402
import folds  # noqa: E402

EXIT = re.compile(rb'(exited with |Your build exited with )\d+')


def chunk_texts(data, d):
    raw = by_repo.lines_of(os.path.join(data, d['log']))
    s, e = d['chunk_start_line'], d['chunk_end_line']
    return {l.strip() for l in raw[s - 1:e] if l.strip()}


def make_green(data, d, failing, out_dir):
    """`d`'s log without its chunk, nor any line that reads like a chunk line of `d` or of the
    failing log (a summary that repeats the failure): a green run prints neither failure."""
    raw = by_repo.lines_of(os.path.join(data, d['log']))
    s, e = d['chunk_start_line'], d['chunk_end_line']
    drop = chunk_texts(data, d) | chunk_texts(data, failing)
    kept = [EXIT.sub(rb'\g<1>0', l) for i, l in enumerate(raw, 1)
            if not s <= i <= e and l.strip() not in drop]
    path = os.path.join(out_dir, d['log'].replace('/', '_') + '.green')
    with open(path, 'wb') as f:
        f.write(b'\n'.join(kept))
    return path


def run(bin_, path, green=None):
    cmd = [bin_, '--json'] + (['--baseline', green] if green else []) + [path]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, timeout=60)
    dt = time.perf_counter() - t
    try:
        return json.loads(out.stdout), dt
    except ValueError:
        return {}, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=by_repo.DEFAULT_DATA)
    ap.add_argument('--bin', required=True, help='the analyze example (takes --baseline)')
    ap.add_argument('--pair', choices=('self', 'next'), default='self')
    ap.add_argument('--keep', help='write the made-green logs here (default: a temporary dir)')
    ap.add_argument('--misses', action='store_true', help='logs that the comparison flipped')
    ap.add_argument('-j', type=int, default=2)
    a = ap.parse_args()

    labels = [json.loads(l) for l in open(os.path.join(a.data, 'labels.jsonl'))]
    by = {}
    for d in labels:
        by.setdefault(d['repository'], []).append(d)
    pairs = []
    for repo, ds in by.items():
        ds.sort(key=lambda d: d['log'])
        if len(ds) < 2 and a.pair == 'next':
            continue
        for i, d in enumerate(ds):
            pairs.append((d, d if a.pair == 'self' else ds[(i + 1) % len(ds)]))
    folds_of = folds.fold_of_repos(d['repository'] for d in labels)

    tmp = a.keep or tempfile.mkdtemp(prefix='green-')
    os.makedirs(tmp, exist_ok=True)

    def one(p):
        d, other = p
        green = make_green(a.data, other, d, tmp)
        path = os.path.join(a.data, d['log'])
        alone, t0 = run(a.bin, path)
        cmp_, t1 = run(a.bin, path, green)
        return (by_repo.per_log(a.data, d, alone), by_repo.per_log(a.data, d, cmp_), t0, t1,
                cmp_.get('comparison') or {})

    with ThreadPoolExecutor(a.j) as ex:
        res = list(ex.map(one, pairs))
    alone = [r[0] for r in res]
    cmp_ = [r[1] for r in res]
    for name, rows, times in (('alone', alone, [r[2] for r in res]),
                              ('with green run', cmp_, [r[3] for r in res])):
        p = by_repo.pooled(rows)
        per = folds.fold_scores(rows, folds_of)
        m = folds.mean_of(per)
        print(f"{name:15} M1 {p['M1_head10']:5.1f}  M2 {p['M2_any_hit']:5.1f}  "
              f"M3 {p['M3_full_le40']:5.1f}  median {p['M4_median_lines']:4}  "
              f"held-back mean M1 {m['M1']:5.1f} M2 {m['M2']:5.1f}  "
              f"median time {statistics.median(times) * 1000:.0f} ms")
    outcomes = {}
    for r in res:
        o = r[4].get('outcome', '?')
        outcomes[o] = outcomes.get(o, 0) + 1
    print(f"pairs {len(res)}; outcomes {outcomes}; "
          f"median demoted {statistics.median(r[4].get('demoted', 0) for r in res)}, "
          f"median new lines {statistics.median(r[4].get('new_lines', 0) for r in res)}")
    if a.misses:
        for x, y in zip(alone, cmp_):
            for k in ('m1', 'm2'):
                if x[k] != y[k]:
                    print(f"{'FIXED' if y[k] else 'BROKE'} {k} {x['log']} chunk {x['chunk']} "
                          f"alone {x['ranges']} with green {y['ranges']} [{y['rule']}]")


if __name__ == '__main__':
    main()
