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
"""Sphinx configuration of the esi-event-actions release notes.

Build with ``tox -e releasenotes``, or ``sphinx-build -W -b html
releasenotes/source releasenotes/build/html`` after ``pip install -r
doc/requirements.txt``.  reno reads the notes from git: a note is listed
once it is committed.
"""

extensions = [
    'openstackdocstheme',
    'reno.sphinxext',
]

project = 'esi-event-actions Release Notes'
copyright = '2026, esi-event-actions authors'

source_suffix = '.rst'
root_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'

# The project lives on GitHub, not opendev.
openstackdocs_repo_name = ''
openstackdocs_bug_project = ''
openstackdocs_auto_name = False

html_theme = 'openstackdocs'
html_static_path = []
