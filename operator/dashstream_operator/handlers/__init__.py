"""kopf handlers: thin adapters from events and timers to the reconcilers."""
