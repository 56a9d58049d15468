"""Read models: the pure projection of events into rows (changes, tables) and its adapters
(the live projector, the writer, the read-your-writes waiter)."""
