"""Change events: the outbox, the bus adapters and the sweeper."""
