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
  ``Date``, with a one-second guard for S3's whole-second times), so skewed Lambda clocks cannot
  steal a live lease. A lease lasts the function timeout (``IAF_FUNCTION_TIMEOUT``, set by the
  deploy, or the invocation's remaining time) plus 60 s; outside Lambda it is renewed in the
  background while a run lasts.

Every conditional write is idempotent under botocore's retries: when one answers 412/409, the
object is read back, and if it holds this write (the lease record's nonce, this save's manifest
key in ``HEAD.json``, this manifest's bytes) the write succeeded and only its answer was lost.

Why not bucket versioning: it would need a bucket setting the user may not control, and it gives
no atomic multi-file commit; retained manifests give both with plain PUT/GET.

Warm Lambda containers reuse the handler instance, which keeps the loaded pointer ETag, the
manifest, the lease ETag and fingerprints (size, mtime, inode) of the local files. Every writer of
``HEAD.json`` holds the lease, so a container that released the lease right after a commit and
takes it back with one ``IfMatch`` on its own released record knows the snapshot did not move:
an unchanged warm ``load`` is one request, an unchanged ``save`` one (lease release). Cold paths
transfer in a thread pool; files over 16 MiB are uploaded in parts hashed as they are sent (a
file rewritten after it was hashed is never completed under the old hash).

Policies, chosen for bots that move real money:
- No state in S3 at all (first run): ``load`` keeps the local folder, so a bot that ran locally
  before is uploaded by its first ``save`` instead of being wiped.
- A bucket with the host handler's plain keys (no ``HEAD.json``) loads them (all pages) as the
  snapshot; the first ``save`` writes the new layout. The plain keys are left in place.
- From the start of a ``save`` until it commits (or finds nothing to commit) the container holds
  unsaved changes, whatever step fails: the lease is kept until it expires, the next ``load`` in
  that container keeps the local folder when the snapshot did not move (new or host layout) and
  its ``save`` commits it. If the snapshot moved, that ``load`` refuses (``StateConflictError``
  naming both snapshots; the local changes are also stored as an uncommitted snapshot) and
  keeps the lease. A failed ``load`` without unsaved changes releases the lease.
- Every name a Linux file system allows is stored exactly (names that are not UTF-8 as base64 of
  their bytes in manifest format 2); only names that could leave the folder are refused.
- Staging folders of killed loads are removed by the next load; a load checks free space first.
- ``HEAD.json`` missing while snapshots exist is refused (restore one), never an empty state.
- The layout lives under a ``.iaf-state`` folder so it cannot collide with state files, and keys
  of other bots' prefixes are never mistaken for plain state files.

Nothing is ever deleted from S3 by the handler: old snapshots stay until ``state-aws-lambda prune``
deletes them (and the content objects only they use); the host handler's plain keys (after
migration) are never deleted by this package.

Modules: ``paths`` (key validation, local tree scanning and hashing - pure), ``manifest``
(snapshot/pointer/lease documents and S3 key layout - pure), ``s3`` (the only module using boto3;
translates botocore errors into the host's ``OperationalException``), ``lease``, ``sync``
(download/apply and upload), ``snapshots`` (list/restore), ``errors``, and ``handler`` (the
host-facing ``AWSS3StorageStateHandler``).
"""
