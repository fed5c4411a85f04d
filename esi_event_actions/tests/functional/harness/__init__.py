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
"""What the functional tests run against; it holds no test.

* :mod:`.base`: the functional test case, and the service as a process;
* :mod:`.procs`: what the private servers below have in common;
* :mod:`.broker`: private RabbitMQ brokers;
* :mod:`.postgres`: private PostgreSQL servers;
* :mod:`.raw`: raw AMQP messages, good or malformed, on esi-leap's queues;
* :mod:`.real_esi_leap`: the real esi-leap 1.0, run from its own
  virtualenv (the fake one, for unit tests, is
  :mod:`esi_event_actions.tests.common.fake_esi_leap`).

``python -m`` runs :mod:`.broker`, :mod:`.postgres` and
:mod:`.real_esi_leap` as commands, for a shell test runner to share one
server between its test processes (``tools/run-tests.sh``).
"""
