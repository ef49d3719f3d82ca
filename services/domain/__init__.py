"""The domain: every rule of DJ Playlist, shared by the web app, the CLI and the worker.

One folder per domain (collection, libraries, tracks, playlists, spins, analysis, setbuilder,
accounts, sources); each `service.py` holds keyword-only functions that raise `errors.DomainError`
subclasses and know nothing of HTTP. `access.py` is the one permission rule, `jobs.py` the one job
queue. Nothing here imports a service package (web, workers, analysis, set builder).
"""
