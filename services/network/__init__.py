"""The network gateway: the relay (device commands from the log to the network) and the
ingress (the network's receipts and device messages to commands)."""
