"""New releases from the artists of a library: an optional Discogs check (services/domain/new_releases/service.py)
and its jobs (per library on demand, every DISCOGS_NEW_RELEASES_INTERVAL_HOURS for every own library)."""
