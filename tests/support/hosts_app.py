"""The WSGI app gunicorn_host serves: built from LINKTRACK_TEST_SETTINGS (JSON) when imported."""

import json
import os

from linktrack import create_app

app = create_app(json.loads(os.environ["LINKTRACK_TEST_SETTINGS"]))
