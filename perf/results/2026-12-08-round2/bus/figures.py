#!/usr/bin/env python3
"""Ratios from the pair runs (run-pairs.sh) and drain runs (run-drain.sh):
   figures.py DIR...  -> one line per run and a mean per gateway, as JSON."""
import glob, json, os, statistics, sys
out = {}
for top in sys.argv[1:]:
    for d in sorted(glob.glob(os.path.join(top, '*-r*/'))):
        s = json.load(open(d + 'summary.json'))
        name = os.path.basename(d[:-1]); which = name.split('-r')[0]
        if isinstance(s, list):
            on = next(r for r in s if r['run'].startswith('load-on'))
            off = next(r for r in s if r['run'].startswith('load-off'))
            row = {'calls_per_s_on': on['calls_per_s'], 'calls_per_s_off': off['calls_per_s'],
                   'ratio_on_off': round(on['calls_per_s'] / off['calls_per_s'], 3),
                   'gw_cpu_us_per_call_on': on['gw_cpu_us_per_call'], 'gw_cpu_us_per_call_off': off['gw_cpu_us_per_call'],
                   'published_per_s_during_load': on.get('published_per_s_during_load'),
                   'journal_per_s_during_load': on.get('journal_records_per_s_during_load'),
                   'nats_cpu_s_during_load': on.get('nats_cpu_s_during_load'),
                   'gw_cpu_us_per_event_drain': on.get('gw_cpu_us_per_event_drain'),
                   'nats_cpu_us_per_event_drain': on.get('nats_cpu_us_per_event_drain'),
                   'stream_equals_journal': on.get('stream_messages') == on.get('journal_lines'),
                   'loadavg_before_on_off': [on['loadavg_before'], off['loadavg_before']]}
        else:
            row = {k: s.get(k) for k in ('calls_per_s', 'published_per_s_load_end_to_drained',
                   'published_per_s_resume_to_drained', 'first_publish_after_restart_s', 'duplicates',
                   'publish_errors', 'stream_minus_journal', 'loadavg_before')}
        out.setdefault(top, {}).setdefault(which, []).append(dict(run=name, **row))
for top, groups in out.items():
    for which, rows in groups.items():
        keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float)) and not isinstance(rows[0][k], bool)]
        groups[which] = {'runs': rows, 'mean': {k: round(statistics.mean(r[k] for r in rows if r[k] is not None), 3) for k in keys}}
print(json.dumps(out, indent=1))
