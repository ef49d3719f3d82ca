"""Collection import: Discogs sync, CSV export import, albums, tracks, friends and spins."""
