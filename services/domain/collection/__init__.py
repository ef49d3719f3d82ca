"""Getting a collection in: Discogs sync, CSV export import, albums."""
