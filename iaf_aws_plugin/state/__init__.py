"""Trading state of a bot kept in S3: exact, atomic, incremental and single-flight.

Layout under ``s3://<bucket>/<prefix>/.iaf-state/`` (``<prefix>/`` is omitted when empty):

- ``objects/<sha256>`` - contents of files over 1 MiB, content addressed; and
  ``objects/packs/<sha256>`` - smaller files, concatenated into packs of about 8 MiB (the
  manifest records each file's pack and offset; loads read them with ranged GETs). A save
  uploads only contents the previous snapshot does not have, so one changed file costs one
  upload; identical files are stored once. The sha256 of every file is verified on every
  download (a corrupt object is an error, never a silently wrong database). Packs make a cold
  load of thousands of small files a handful of requests instead of one (or, for the host's
  handler, two) per file. Packs are never rewritten: after many saves a snapshot may reference
  many small packs, which costs at most one request per referenced pack on a cold load.
- ``snapshots/<generation>-<token>.json`` - a manifest per save: every relative path with its
  hash and size, plus the empty folders. Manifests are never overwritten nor deleted, so every
  older snapshot stays restorable (``list_snapshots`` / ``restore_snapshot``). The random token
  keeps two racing or crashed saves from ever writing the same key.
- ``HEAD.json`` - the pointer to the current manifest (with its sha256). A save uploads objects
  and the manifest first and switches the pointer last with a conditional write (``IfMatch`` the
  ETag it loaded, or ``IfNoneMatch="*"`` for the first save): a save killed at any moment leaves
  the old pointer (old snapshot) or the new one, never a mix; a save based on a snapshot that
  changed underneath it gets 412 and is refused (no lost update).
- ``lease.json`` - single flight. ``load`` takes it with a conditional write (create with
  ``IfNoneMatch="*"``, or replace a released/expired lease with ``IfMatch``); ``save`` checks it
  is still ours (conditional renew) before switching the pointer and then releases it by
  overwriting it with a "released" record (conditional, so a lease taken over by someone else is
  never clobbered; S3 general purpose buckets have no portable conditional delete). Expiry is
  judged on S3's clock (``LastModified`` of the lease + its timeout against the response's
  ``Date``), so skewed Lambda clocks cannot steal a live lease.

Why not bucket versioning: it would need a bucket setting the user may not control, and it gives
no atomic multi-file commit; retained manifests give both with plain PUT/GET.

Warm Lambda containers reuse the handler instance, which keeps the loaded pointer ETag, the
manifest, the lease ETag and fingerprints (size, mtime, inode) of the local files: an unchanged
warm ``load`` is two requests (lease write + conditional GET of the pointer answering 304) and an
unchanged ``save`` one (lease release). Cold paths transfer in a thread pool; big files use
multipart through boto3's transfer manager.

Policies, chosen for bots that move real money:
- No state in S3 at all (first run): ``load`` keeps the local folder, so a bot that ran locally
  before is uploaded by its first ``save`` instead of being wiped.
- A bucket with the host handler's plain keys (no ``HEAD.json``) loads them (all pages) as the
  snapshot; the first ``save`` writes the new layout. The plain keys are left in place.
- A failed ``save`` keeps the lease until it expires (the run's trades are only in the local
  folder); a warm container that runs next keeps its local changes when the snapshot did not
  move, so its ``save`` stores them. A failed ``load`` releases the lease (the host never calls
  ``save`` after it).
- The layout lives under a ``.iaf-state`` folder so it cannot collide with state files, and keys
  of other bots' prefixes are never mistaken for plain state files.

Nothing is ever deleted from S3 by the handler (no garbage collection yet): old snapshots and
the host handler's plain keys (after migration) stay until a future ``state`` command prunes them.

Modules: ``paths`` (key validation, local tree scanning and hashing - pure), ``manifest``
(snapshot/pointer/lease documents and S3 key layout - pure), ``s3`` (the only module using boto3;
translates botocore errors into the host's ``OperationalException``), ``lease``, ``sync``
(download/apply and upload), ``snapshots`` (list/restore), ``errors``, and ``handler`` (the
host-facing ``AWSS3StorageStateHandler``).
"""
