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
"""Sphinx configuration of the esi-event-actions documentation.

Build with ``sphinx-build -W -b html doc/source doc/build/html`` (or
``tox -e docs``) after ``pip install -r doc/requirements.txt`` and an
install of esi-event-actions itself: the configuration reference and the
sample file are generated from the installed code.
"""

import os
import warnings

# Listing oslo.messaging's options imports eventlet, whose deprecation notice
# would only clutter the build output.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

# -- General configuration ---------------------------------------------------

extensions = [
    'openstackdocstheme',
    # ".. show-options::" for the configuration reference.
    'oslo_config.sphinxext',
    # Writes _static/esi-event-actions.conf.sample at each build.
    'oslo_config.sphinxconfiggen',
    # ".. list-plugins::" for the installed action plugins.
    'stevedore.sphinxext',
]

config_generator_config_file = [
    ('../../etc/esi-event-actions/esi-event-actions-config-generator.conf',
     '_static/esi-event-actions'),
]

project = 'esi-event-actions'
copyright = '2026, esi-event-actions authors'

source_suffix = '.rst'
root_doc = 'index'
exclude_patterns = ['_build']

pygments_style = 'native'

# -- openstackdocstheme ------------------------------------------------------

# The project lives on GitHub, not opendev: no repository or bug tracker
# links, which the theme would otherwise point at opendev and Launchpad.
openstackdocs_repo_name = ''
openstackdocs_bug_project = ''
openstackdocs_auto_name = False

# -- Options for HTML output -------------------------------------------------

html_theme = 'openstackdocs'
html_static_path = ['_static']

# -- Optional pages ----------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))


def _optional_pages(app, docname, source):
    """List the performance page in the table of contents once it exists.

    A toctree entry naming a missing page is a warning, and warnings fail
    the build.
    """
    if docname == 'index' and os.path.exists(
            os.path.join(_HERE, 'performance.rst')):
        source[0] = source[0].replace('   monitoring\n',
                                      '   monitoring\n   performance\n', 1)


def setup(app):
    app.connect('source-read', _optional_pages)
