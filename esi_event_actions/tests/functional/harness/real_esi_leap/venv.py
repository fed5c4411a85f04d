# Copyright 2026 esi-event-actions authors
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""esi-leap 1.0 from PyPI, in a virtualenv of its own.

esi-leap's requirements clash with ours, so it runs under a virtualenv
built on first use, once per machine, under ``$ESI_LEAP_VENV`` or else
``~/.cache/esi-event-actions/`` (``$XDG_CACHE_HOME`` is honoured); a file
lock lets test processes race for it safely. ``python -m
esi_event_actions.tests.functional.harness.real_esi_leap install`` builds
it ahead of a run.
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys

from esi_event_actions.tests.functional.harness import procs
from esi_event_actions.tests.functional.harness.real_esi_leap import data


ESI_LEAP_VERSION = '1.0.0'
VENV_ENV = 'ESI_LEAP_VENV'
# esi-leap's own requirements, minus what it needs only in production;
# without both caps pip backtracks for minutes or picks releases that no
# longer work with esi-leap 1.0.
REQUIREMENTS = (
    'oslo.messaging',
    'oslo.versionedobjects',
    'osprofiler',
    'keystoneauth1',
    'oslo.db<18',
    'python-keystoneclient',
    'python-ironicclient',
    'pecan',
    'WSME',
    'keystonemiddleware',
    'oslo.policy',
    'SQLAlchemy<2.0',
)
INSTALL_TIMEOUT = 1800
# Marks a virtualenv this module built completely, with what it holds.
READY_MARKER = '.esi-event-actions-ready'
# Marks one this module is building (or was, when it died).
BUILDING_MARKER = '.esi-event-actions-building'
PROBE = ('import esi_leap.api.service, esi_leap.manager.service, '
         'esi_leap.db.sqlalchemy.api')


def _cache_dir():
    base = (os.environ.get('XDG_CACHE_HOME')
            or os.path.join(os.path.expanduser('~'), '.cache'))
    return os.path.join(base, 'esi-event-actions')


def venv_dir():
    """Return where esi-leap's virtualenv is, or is to be built."""
    path = os.environ.get(VENV_ENV)
    if path:
        return os.path.abspath(os.path.expanduser(path))
    # One per esi-leap release and Python version: a venv is bound to the
    # interpreter it was made with.
    return os.path.join(_cache_dir(), 'esi-leap-%s-py%d.%d'
                        % ((ESI_LEAP_VERSION,) + sys.version_info[:2]))


def _spec():
    return {
        'esi-leap': ESI_LEAP_VERSION,
        'requirements': list(REQUIREMENTS),
        'python': '%d.%d' % sys.version_info[:2],
    }


def venv_python(path):
    """The Python interpreter of the virtualenv at path."""
    return os.path.join(path, 'bin', 'python')


def _is_ready(path):
    try:
        with open(os.path.join(path, READY_MARKER)) as f:
            return json.load(f) == _spec()
    except (OSError, ValueError):
        return False


def _probe(path):
    python = venv_python(path)
    if not os.access(python, os.X_OK):
        return False
    try:
        result = subprocess.run(
            [python, '-I', '-c', PROBE], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=clean_env(), timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def clean_env(extra=None):
    """Return the environment to run esi-leap's Python with, plus extra."""
    # oslo.config reads OS_<GROUP>__<OPT> variables, PYTHON* variables
    # would mix our packages into esi-leap's, and a proxy would swallow
    # esi-leap's requests to the loopback stub.
    return procs.environ(
        lambda name: (name.startswith(('OS_', 'PYTHON', 'VIRTUAL_ENV'))
                      or name.lower().endswith('_proxy')),
        extra)


def _build(path, log_path, lock_fd):
    """Create the virtualenv at path and install esi-leap into it.

    The children inherit lock_fd, so that a pip orphaned by our death
    still holds the lock until it exits: no other process starts over
    while it writes to path.
    """
    if os.path.lexists(path):
        shutil.rmtree(path)
    # Mark the directory before anything else goes in: one without a
    # marker is never taken for ours, and never removed.
    os.mkdir(path)
    with open(os.path.join(path, BUILDING_MARKER), 'w') as f:
        f.write('%d\n' % os.getpid())
    with open(log_path, 'ab') as log:
        def run(argv):
            log.write(('$ %s\n' % ' '.join(argv)).encode())
            log.flush()
            try:
                result = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, env=clean_env(),
                    pass_fds=(lock_fd,), timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise data.EsiLeapError('%s timed out' % argv[0])
            if result.returncode != 0:
                raise data.EsiLeapError(
                    '%s exited with %d'
                    % (' '.join(argv[:4]), result.returncode))

        # sys.executable may itself be a venv's: venv then builds on the
        # base interpreter, which is what we want.
        run([sys.executable, '-m', 'venv', path])
        pip = [venv_python(path), '-m', 'pip', 'install',
               '--disable-pip-version-check', '--no-input']
        run(pip + list(REQUIREMENTS))
        # esi-leap's own pins (old oslo.* and SQLAlchemy releases) do not
        # install on current Pythons; its code runs with the above.
        run(pip + ['--no-deps', 'esi-leap==%s' % ESI_LEAP_VERSION])
    if not _probe(path):
        raise data.EsiLeapError(
            'esi-leap installed in %s does not import' % path)
    procs.write_file(os.path.join(path, READY_MARKER),
                     json.dumps(_spec(), sort_keys=True))
    os.remove(os.path.join(path, BUILDING_MARKER))


def ensure_venv():
    """Return the path of a virtualenv with esi-leap, building it if needed.

    Safe to call from several processes at once: one builds, the others
    wait for it. A virtualenv named by ``$ESI_LEAP_VENV`` that this module
    did not build is used as it is if esi-leap imports there, and never
    modified.
    """
    path = venv_dir()
    if _is_ready(path):
        return path
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    lock_path = path.rstrip(os.sep) + '.lock'
    with open(lock_path, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _is_ready(path):
                return path
            ours = any(os.path.exists(os.path.join(path, marker))
                       for marker in (READY_MARKER, BUILDING_MARKER))
            if os.path.lexists(path) and not ours:
                if _probe(path):
                    return path
                raise data.EsiLeapError(
                    '%s exists but has no esi-leap %s; set %s to a new '
                    'directory' % (path, ESI_LEAP_VERSION, VENV_ENV))
            log_path = path.rstrip(os.sep) + '.install.log'
            if os.path.exists(log_path):
                os.remove(log_path)
            try:
                _build(path, log_path, lock.fileno())
            except BaseException as exc:
                shutil.rmtree(path, ignore_errors=True)
                if isinstance(exc, data.EsiLeapError):
                    raise data.EsiLeapError(
                        '%s (installing into %s)\n%s'
                        % (exc, path, procs.tail(log_path)))
                raise
            return path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
