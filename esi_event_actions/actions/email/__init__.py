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
"""The email action: a mail to the lessee, or to anyone, about a lease.

:mod:`.action` is the plugin, :mod:`.options` its options and
:mod:`.loading` how they become its parts when the rule is loaded:

:mod:`.addresses`
    what a mail address may be (a lessee's value is checked as strictly as
    an operator's);
:mod:`.recipients`, :mod:`.keystone`
    where the addresses come from: the rule, the lease, or Keystone;
:mod:`.templates`, :mod:`.defaults`
    the subject and bodies, Jinja2 templates rendered in a sandbox, the
    lease's values given to them as data;
:mod:`.message`
    the message itself, with a Message-ID every retry repeats;
:mod:`.smtp`
    its delivery, and which failures a retry can mend.
"""
