"""Twilio's request signature, so customers validate our webhooks with Twilio's own libraries.

X-Twilio-Signature is base64(HMAC-SHA1(auth token, url + name1 + value1 + name2 + value2 ...)),
the POST parameters sorted by name. A GET carries its parameters in the URL's query string, so
it is signed over the URL alone. The URL is the full one requested, scheme to query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

HEADER = "X-Twilio-Signature"


def signature(auth_token: str, url: str, params: Mapping[str, str] | None) -> str:
    """The X-Twilio-Signature of a request to `url` with POST parameters `params` (None or
    empty for a GET, whose parameters are already in `url`)."""
    payload = url + "".join(name + params[name] for name in sorted(params or {}))
    mac = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")
