"""Outbound webhooks: calling the URLs customers configure, the way Twilio calls them.

signature: the X-Twilio-Signature of a request. sealing: auth tokens encrypted at rest.
target: which addresses a webhook may reach (the SSRF guard). sender: one attempt, over HTTP.
backoff: when to try again, and when to give up.
"""
