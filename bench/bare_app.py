"""The baseline for bench/redirect.py: Flask answering the same 302 from a dict, and nothing else.

No database, no extensions, no click: what is left is Flask, gunicorn and HTTP, the floor the
real redirect is compared with. Same paths and the same Location shape (a fresh tracking id).
"""

import json
import os
import uuid

from flask import Flask, redirect

# {short_code: [destination with UTM, link id]}, written by bench/redirect.py.
LINKS = json.loads(os.environ["BARE_LINKS"])

app = Flask(__name__)


@app.get("/<short_code>")
def follow(short_code: str):
    destination, link_id = LINKS[short_code]
    return redirect(f"{destination}&ct_tracking_id={uuid.uuid4()}&ct_campaign_link_id={link_id}", 302)
