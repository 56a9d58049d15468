"""A stand-in for the mobile network, for development and tests: `fleetstate network-sim`.

It answers what fleetstate sends to devices (network_out) like a network would (receipts on
network_in), and sends device-originated messages on request. Never run in production: there
the real network is on the other end of the same two topics (events/network.py).
"""
