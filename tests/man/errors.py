#!/usr/bin/env python3
"""The header and the man pages agree on errors: for every function that
shinjuku.h declares, the errnos its comment names (with those of the
functions it says it is "as") are exactly the ones the ERRORS section of its
page names; the errors common to every call that talks to shinjukud are in
libshinjuku(3), and the page of such a call refers to it there.

usage: errors.py SHINJUKU_H MAN3DIR     (the section 3 pages)
Prints one line per function; exits 1 on any disagreement."""
import os
import re
import sys

ERRNO = re.compile(r'-(E[A-Z0-9]+)')


def header(path):
    """({function: set of errnos}, common errnos, functions exempt from them)"""
    text = open(path).read()
    comments = list(re.finditer(r'/\*(.*?)\*/', text, re.S))
    top = next(c.group(1) for c in comments if 'Errors common' in c.group(1))
    common_part = top[top.index('Errors common'):top.index('If shinjukud restarted')]
    exempt = set(re.findall(r'(shj_\w+)\(\)', common_part.split(':')[0]))
    common = set(ERRNO.findall(common_part))
    own, refs, last = {}, {}, ''
    pos = 0
    for m in re.finditer(r'^(?:const char \*|int )(shj_\w+)\(', text, re.M):
        before = [c for c in comments if c.end() <= m.start() and c.start() > pos]
        if before:
            last = before[-1].group(1)
        pos = m.start()
        own[m.group(1)] = set(ERRNO.findall(last))
        refs[m.group(1)] = set(re.findall(r'as (shj_\w+)', last)) - {m.group(1)}
    def resolve(f, seen=()):
        out = set(own[f])
        for r in refs[f]:
            if r not in seen:
                out |= resolve(r, seen + (f,))
        return out
    return {f: resolve(f) for f in own}, common, exempt


def page(path):
    """(names in NAME, errnos in ERRORS, ERRORS text)"""
    text = open(path).read()
    names = re.search(r'^\.SH NAME\n(.*?) \\-', text, re.M | re.S).group(1)
    m = re.search(r'^\.SH ERRORS\n(.*?)(?=^\.SH )', text, re.M | re.S)
    errors = m.group(1) if m else ''
    found = set(re.findall(r'\\-(E[A-Z0-9]+)', errors))
    return [n.strip() for n in names.split(',')], found, errors


def main():
    funcs, common, exempt = header(sys.argv[1])
    man3 = sys.argv[2]
    pages = {}
    for name in sorted(os.listdir(man3)):
        path = os.path.join(man3, name)
        if open(path).read().startswith('.so '):
            continue
        names, found, text = page(path)
        pages[name] = (names, found, text)
    bad = 0
    _, lib_found, _ = pages['libshinjuku.3']
    ok = lib_found == common
    bad += not ok
    print('%s libshinjuku(3) common errors %s, header %s' %
          ('ok  ' if ok else 'FAIL', sorted(lib_found), sorted(common)))
    for name, (names, found, text) in sorted(pages.items()):
        covered = [n for n in names if n in funcs]
        if not covered:
            continue
        want = set().union(*(funcs[n] for n in covered))
        talks = [n for n in covered if n not in exempt]
        ok = found == want and (not talks or 'libshinjuku (3)' in text)
        bad += not ok
        print('%s %s (%s): page %s, header %s%s' % (
            'ok  ' if ok else 'FAIL', name, ', '.join(covered), sorted(found),
            sorted(want), '' if not talks or 'libshinjuku (3)' in text else
            '; no reference to the common errors in libshinjuku(3)'))
    missing = set(funcs) - {n for names, _, _ in pages.values() for n in names}
    if missing:
        bad += 1
        print('FAIL declared in the header, no page: %s' % ', '.join(sorted(missing)))
    return 1 if bad else 0


sys.exit(main())
