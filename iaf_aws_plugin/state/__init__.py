"""Trading state of a bot kept in S3: exact, atomic, incremental and single-flight.

Layout under ``s3://<bucket>/<prefix>/.iaf-state/`` (``<prefix>/`` is omitted when empty):

- ``objects/<sha256>`` - file contents, content addressed. A save uploads only hashes that the
  previous snapshot does not have, so one changed file costs one upload; identical files are
  stored once. The hash is also the checksum verified on every download (a corrupt object is an
  error, never a silently wrong database).
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

Modules: ``paths`` (key validation, local tree scanning and hashing - pure), ``manifest``
(snapshot/pointer/lease documents and S3 key layout - pure), ``s3`` (the only module using boto3;
translates botocore errors into the host's ``OperationalException``), ``lease``, ``sync``
(download/apply and upload), ``snapshots`` (list/restore), ``errors``.
"""
