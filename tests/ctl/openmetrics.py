#!/usr/bin/env python3
"""shjctl stats --openmetrics, read by a real OpenMetrics parser (Debian's
python3-prometheus-client), says what shjctl stats --json says: every
counter as NAME_total, every value now as a gauge, queue lengths and the
wait histograms by level (a label); every JSON key is in it.

usage: openmetrics.py SHJCTL DAEMON_PID
The daemon runs with --dry-run -q 4 (no scheduler: its counters would stay
0); before reading, known values are written into its counter and wait
histogram maps, found through its fds, with bpftool. Output ends with
"N passed, N failed"."""
import json
import os
import re
import struct
import subprocess
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

BUCKETS = 32
passed = failed = 0


def t(what, ok, detail=''):
    global passed, failed
    if ok:
        passed += 1
        print('ok   ' + what)
    else:
        failed += 1
        print('FAIL ' + what + (': ' + detail if detail else ''))


def daemon_maps(pid):
    """{map name: map id} of the maps the daemon holds open"""
    maps = {}
    fdinfo = '/proc/%d/fdinfo' % pid
    for fd in os.listdir(fdinfo):
        with open(os.path.join(fdinfo, fd)) as f:
            m = re.search(r'^map_id:\s*(\d+)', f.read(), re.M)
        if m:
            info = json.loads(subprocess.check_output(
                ['bpftool', '-j', 'map', 'show', 'id', m.group(1)]))
            maps[info['name']] = int(m.group(1))
    return maps


def update(map_id, key, value):
    """key (u32) = value (u64), on every CPU of a per-CPU array"""
    def hexbytes(b):
        return ['%d' % x for x in b]
    subprocess.check_call(['bpftool', 'map', 'update', 'id', str(map_id), 'key'] +
                          hexbytes(struct.pack('<I', key)) + ['value'] +
                          hexbytes(struct.pack('<Q', value)))


def le_of(b):
    """the le of bucket b: its upper bound 2^(b+1) ns, in seconds"""
    return (2 << b) / 1e9


def main():
    shjctl, pid = sys.argv[1], int(sys.argv[2])
    maps = daemon_maps(pid)
    t('daemon maps found (%s)' % ', '.join(sorted(maps)),
      'shj_stats' in maps and 'shj_wait_hist' in maps)
    ncpus = len(json.loads(subprocess.check_output(
        ['bpftool', '-j', 'map', 'lookup', 'id', str(maps['shj_stats']),
         'key', '0', '0', '0', '0']))['values'])
    nstats = json.loads(subprocess.check_output(
        ['bpftool', '-j', 'map', 'show', 'id', str(maps['shj_stats'])]))['max_entries']
    for i in range(nstats):                   # every scheduler counter
        update(maps['shj_stats'], i, 3 * (i + 1))
    waits = {(0, 5): 7, (0, 20): 2, (1, 31): 4, (3, 0): 1, (5, 3): 9}
    for (level, b), v in waits.items():       # level 5: not one of the 4
        update(maps['shj_wait_hist'], level * BUCKETS + b, v)

    text = subprocess.check_output([shjctl, 'stats', '--openmetrics'], text=True)
    js = json.loads(subprocess.check_output([shjctl, 'stats', '--json'], text=True))
    t('ends with # EOF', text.endswith('\n# EOF\n'))
    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except ValueError as e:
        t('the parser accepts it', False, str(e))
        return
    t('the parser accepts it (%d families)' % len(families), True)
    t('--json has "version": 1', js.get('version') == 1, str(js.get('version')))
    t('injected counters read back (enqueue = %d CPUs x 3)' % ncpus,
      js.get('enqueue') == 3 * ncpus, str(js.get('enqueue')))

    covered = {'version'}
    levels = js['qos_levels']
    for name, fam in families.items():
        key = name[len('shinjuku_'):]
        if fam.type in ('counter', 'gauge', 'unknown') and key != 'queued':
            s = fam.samples
            want = js.get(key)
            ok = len(s) == 1 and want is not None and (
                s[0].value == want or
                # each shjctl call adds requests and a session: later, more
                (key in ('requests', 'sessions') and s[0].value <= want))
            ok = ok and s[0].name == name + ('_total' if fam.type == 'counter' else '')
            t('%s %s = %s (json %s)' % (fam.type, s[0].name if s else name,
                                        s[0].value if s else None, want), ok)
            covered.add(key)
    q = families.get('shinjuku_queued')
    got = {s.labels['level']: s.value for s in q.samples} if q else {}
    want = {str(level): js['queued_q%d' % level] for level in range(levels)}
    t('queued{level} for levels 0..%d' % (levels - 1), got == want, '%s != %s' % (got, want))
    covered |= {'queued_q%d' % level for level in range(levels)}

    def buckets(fam, labels):
        """per-bucket counts from the cumulative samples with these labels"""
        cum = [(s.labels['le'], s.value) for s in fam.samples
               if s.name.endswith('_bucket') and
               all(s.labels.get(k) == v for k, v in labels.items())]
        les = [float(le) for le, _ in cum]
        ok = les == [le_of(b) for b in range(BUCKETS - 1)] + [float('inf')]
        counts = [v - (cum[i - 1][1] if i else 0) for i, (_, v) in enumerate(cum)]
        return ok, counts

    wait = families.get('shinjuku_queue_wait_seconds')
    t('queue wait: a histogram', wait is not None and wait.type == 'histogram')
    seen_levels = sorted({s.labels['level'] for s in wait.samples})
    t('queue wait: levels 0..%d as labels' % (levels - 1),
      seen_levels == [str(level) for level in range(levels)], str(seen_levels))
    for level in range(levels):
        ok, counts = buckets(wait, {'level': str(level)})
        want = [js.get('wait_log2ns_q%d_b%d' % (level, b), 0) for b in range(BUCKETS)]
        t('queue wait level %d: le 2^(b+1) ns, buckets as in json %s' %
          (level, {b: c for b, c in enumerate(want) if c}), ok and counts == want,
          '%s != %s' % (counts, want))
        covered |= {'wait_log2ns_q%d_b%d' % (level, b) for b in range(BUCKETS)}
    t('queue wait: the injected buckets show', js.get('wait_log2ns_q1_b31') == 4 * ncpus and
      'wait_log2ns_q5_b3' not in js)

    t('every json key is in the OpenMetrics output', not set(js) - covered,
      ', '.join(sorted(set(js) - covered)))


main()
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
