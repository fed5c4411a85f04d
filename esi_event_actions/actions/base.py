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
"""The action plugin contract.

An action plugin is a class registered under the ``esi_event_actions.actions``
entry point namespace.  It declares its options in ``opts``; they are
registered in the section of every rule that uses it, so the configuration
checker and the sample generator know them.  ``validate`` runs when the
service starts and rejects a bad rule before any event arrives.  ``run`` is
called by a worker thread, never by the listener, once per job attempt.

The contract is versioned by :data:`CONTRACT_VERSION`; a minor version adds
only what a plugin written for an older one may ignore:

1.0
    ``opts``, ``validate``, ``run`` returning a :class:`Result`,
    ``param_paths``, ``preview``, ``describe``.
1.1
    :attr:`Result.retry_after`: the wait a receiver asked for.
1.2
    Actions are built with an :class:`ActionContext` instead of the whole
    rule (a plugin's ``__init__(rule)`` receives it under that name, with
    the ``name``, ``options`` and ``location()`` it read before), and
    declare the options they cannot do without in :attr:`Action.required`.
1.3
    The lease context: ``event.context`` is the context of the event's
    lease as it stood when the job started (a dict, empty if nothing was
    written), and :attr:`Result.context` adds keys to it.
"""

import abc
import dataclasses
import os

from oslo_config import cfg

from esi_event_actions import exception
from esi_event_actions import optiontypes as types

#: The usual way for an action to take values from the event: list it in
#: the action's ``opts``; :meth:`Action.param_paths` reads it.
PARAMS_OPT = cfg.Opt(
    'params', type=types.List(item_type=types.String()), default=[],
    help='Dot paths in the lease payload (node_name, '
         'node_properties.vendor, ...) whose values the action receives.')

#: The version of the contract below that this release offers plugins.
CONTRACT_VERSION = '1.3'

SUCCESS = 'success'
RETRY = 'retry'
FAILURE = 'failure'


@dataclasses.dataclass
class Result:
    """What one attempt of an action came to.

    ``status`` is SUCCESS, RETRY (a failure that may pass if tried again)
    or FAILURE (it never will).  ``detail`` is a one-line summary for the
    log and the journal; ``output`` the start of what the action printed.
    ``retry_after`` (contract 1.1), with RETRY, is how many seconds the
    other end asked us to wait (an HTTP Retry-After): the next attempt
    comes after that long instead of the rule's backoff, capped by its
    ``retry_max_delay``.  ``context`` (contract 1.3) is a dict of keys to
    set in the lease's context, a key set to None removed; it is recorded
    with the end of the attempt, whatever its status, and later jobs of
    the lease see it.
    """

    status: str
    detail: str = ''
    exit_status: int = None
    output: str = ''
    retry_after: float = None
    context: dict = None

    @property
    def ok(self):
        return self.status == SUCCESS


@dataclasses.dataclass(frozen=True)
class ActionContext:
    """What an action knows of the rule it serves, and of the service.

    ``name`` is the rule's section, ``action_name`` the entry point that
    selected the action, ``options`` the values of the rule's options
    (read like an oslo.config group, fixed when the rule was loaded),
    ``state_path`` the service's ``[DEFAULT] state_path`` and
    ``output_limit`` its ``[worker] output_limit``.
    """

    name: str
    action_name: str
    options: dict
    state_path: str
    output_limit: int
    #: callable ``(key) -> file`` that set ``key`` in the section, or None.
    locate: object = None
    #: The whole configuration, for plugins of contract 1.1 that read
    #: ``self.rule.conf``; new ones use the fields above.
    conf: object = None

    def location(self, key):
        """The configuration file that set ``key``, or None."""
        return self.locate(key) if self.locate else None

    def resolve_path(self, key):
        """Option ``key`` as an absolute path.

        A relative path is relative to the directory of the configuration
        file that sets it, so a rule and its files can move together.
        """
        path = os.path.expanduser(self.options[key])
        if not os.path.isabs(path):
            source = self.location(key)
            path = os.path.join(
                os.path.dirname(source) if source else os.getcwd(), path)
        return os.path.abspath(path)


class Action(metaclass=abc.ABCMeta):
    """Base class of action plugins.

    :param context: the :class:`ActionContext` of the rule it serves.
        Plugins written for contract 1.1 name it ``rule``; it has the
        ``name``, ``options`` and ``location()`` they used.
    """

    #: oslo.config options this action reads from its rule's section.
    opts = []
    #: Names of options in ``opts`` that a rule must set: checked before
    #: :meth:`validate`, with one error naming the file, section and key.
    required = ()

    def __init__(self, context):
        self.context = context
        # Contract 1.1 called it the rule; plugins still read it so.
        self.rule = context
        self.options = context.options

    def error(self, key, reason):
        """A ConfigError located at ``key`` of this rule's section."""
        return exception.ConfigError(
            reason, section=self.context.name, key=key,
            filename=self.context.location(key))

    def resolve_path(self, key):
        """Option ``key`` as an absolute path (see ActionContext)."""
        return self.context.resolve_path(key)

    def validate(self):
        """Raise ConfigError (see :meth:`error`) if the rule cannot work."""

    def param_paths(self):
        """Dot paths whose values are passed to :meth:`run` as params.

        The ``params`` option (:data:`PARAMS_OPT`) when the action has it.
        """
        return list(getattr(self.options, 'params', None) or [])

    def named_params(self, params):
        """``params`` as a {dot path: value} dict."""
        return dict(zip(self.param_paths(), params))

    def preview(self, event, params, attempt=1):
        """What :meth:`run` would do with ``event``, without doing it.

        A JSON-able dict for ``esi-event-actions-manage test-rule``: the
        exact command, request or playbook run, with secrets masked.
        """
        return {'params': self.named_params(params)}

    def describe(self):
        """A short human summary of what this action does."""
        return self.context.action_name

    @abc.abstractmethod
    def run(self, event, params, attempt=1):
        """Act on ``event`` and return a :class:`Result`.

        :param event: the :class:`esi_event_actions.event.Event`.
        :param params: the values at :meth:`param_paths`, in order, as
            text (null or missing values are empty strings).
        :param attempt: 1 for the first attempt at this job.
        """
