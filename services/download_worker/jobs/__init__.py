"""Job functions the RQ worker runs (import paths are what the web app enqueues)."""
