"""Scheduled maintenance: the drift repair (embeddings missing or stale for the active model, a MeiliSearch
index out of step with Postgres) that the worker runs every REPAIR_INTERVAL_HOURS."""
