"""Track search: one query contract (models.py) answered by Postgres (default) or MeiliSearch."""
