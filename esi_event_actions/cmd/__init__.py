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
"""Command-line entry points.

oslo.service picks its concurrency backend when first asked, and importing
oslo.messaging asks for it; the threading backend must be chosen first.
"""

import warnings

from oslo_service import backend

# Libraries import eventlet when it is installed, even unused; its
# deprecation notice on every command's stderr would only mislead.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
# eventlet imports dnspython, whose DNSSEC modules name algorithms that
# the cryptography library deprecates: nothing of ours uses them.
warnings.filterwarnings('ignore', module=r'dns\.dnssecalgs\.')

if backend.get_backend_type() is None:
    backend.init_backend(backend.BackendType.THREADING)
