"""What a deployed bot holds, waits for and has earned, read from its state snapshots.

``database``: the host's SQLite database, read with plain SQL against its own tables (8.x and 9.x).
``snapshots``: the snapshots' databases from S3 (through the state package), with a local cache.
``html``: the self-contained report page (inline SVG chart, no network request).
"""
