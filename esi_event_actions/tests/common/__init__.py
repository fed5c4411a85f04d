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
"""What the test modules share; it holds no test.

* :mod:`.base`: the test case every unit test derives from;
* :mod:`.cases`: test cases on the real journal, pipeline and listener;
* :mod:`.ends`: ending claimed jobs by hand, as the workers' recorder does;
* :mod:`.fake_esi_leap`: esi-leap's notifications and event history API;
* :mod:`.httpserver`: a recording (or hostile) webhook receiver;
* :mod:`.samples`: configuration files and playbooks;
* :mod:`.alert_rules`: the shipped Prometheus rules and the metrics they
  read.

A test module imports from here, never from another test module
(``unit/test_layout.py`` checks it).  The functional tests' processes and
servers are in :mod:`esi_event_actions.tests.functional.harness`.
"""
