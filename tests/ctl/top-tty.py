#!/usr/bin/env python3
"""shjctl top on a terminal (a pty): it redraws in place, says q quits,
stops on q with exit 0, and leaves the terminal as it found it.

usage: top-tty.py SHJCTL       Output ends with "N passed, N failed"."""
import os
import select
import subprocess
import sys
import termios
import time

passed = failed = 0


def t(what, ok, detail=''):
    global passed, failed
    passed += ok
    failed += not ok
    print(('ok   ' if ok else 'FAIL ') + what + ('' if ok or not detail else ': ' + detail))


def read_until(fd, want, secs):
    """what the pty shows until want appears (bounded, not a timing check)"""
    out, end = b'', time.monotonic() + secs
    while want not in out and time.monotonic() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


master, slave = os.openpty()
before = termios.tcgetattr(slave)
p = subprocess.Popen([sys.argv[1], 'top'], stdin=slave, stdout=slave, stderr=slave)
out = read_until(master, b'LEVEL', 30)
t('a view on the terminal', b'LEVEL' in out, out.decode(errors='replace'))
t('it clears and redraws in place', b'\x1b[H\x1b[2J' in out)
t('it says q quits', b'(q quits)' in out)
out += read_until(master, b'per second', 30)
t('it refreshes (a second view)', b'per second' in out)
os.write(master, b'q')
try:
    rc = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    rc = 'none (still running after q)'
t('q stops it, exit 0', rc == 0, 'exit %s' % rc)
t('the terminal is as it was (canonical mode, echo)', termios.tcgetattr(slave) == before)
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
