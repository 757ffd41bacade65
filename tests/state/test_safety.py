"""Safety: no ACLs on the wire, no key lands outside the state folder, symlinks are not followed out."""
from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


def test_no_acl_is_ever_sent(make_handler, tmp_path, write):
    a = tmp_path / "a"
    write(a, "small.txt", "x")
    with open(a / "big.bin", "wb") as handle:
        handle.truncate(70 * 1024 * 1024)  # multipart too
    handler, log = make_handler()
    handler.load(str(a))
    handler.save(str(a))
    assert log.ops("PutObject") and log.ops("CreateMultipartUpload")
    assert not [p for p in log.params if "ACL" in p or any(k.startswith("Grant") for k in p)]
    assert not [h for h in log.headers if any(k.startswith("x-amz-acl") or k.startswith("x-amz-grant") for k in h)]


@pytest.mark.parametrize("key", ["../escaped.txt", "x/../../escaped.txt", "x//y.txt"])
def test_unsafe_legacy_keys_are_rejected_by_name(make_handler, s3, bucket, tmp_path, write, tree, key):
    from iaf_aws_plugin.state.errors import UnsafePathError

    s3.put_object(Bucket=bucket, Key="fine.txt", Body=b"ok")
    s3.put_object(Bucket=bucket, Key=key, Body=b"evil")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert key in keys, keys  # the emulator kept the key as sent
    target = tmp_path / "inside" / "target"
    write(target, "local.txt", "here before")
    before_all = tree(tmp_path)
    handler, _ = make_handler()
    with pytest.raises(UnsafePathError) as error:
        handler.load(str(target))
    assert repr(key) in str(error.value)
    assert tree(tmp_path) == before_all


@pytest.mark.parametrize("path", ["../escaped.txt", "/etc/escaped.txt", "a/./b", "a//b", "a/\x00b"])
def test_unsafe_paths_in_a_manifest_are_rejected(make_handler, s3, bucket, tmp_path, write, tree, path):
    import hashlib

    from iaf_aws_plugin.state.errors import UnsafePathError

    a = tmp_path / "a"
    write(a, "ok.txt", "ok")
    saver, _ = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    head = json.loads(s3.get_object(Bucket=bucket, Key=".iaf-state/HEAD.json")["Body"].read())
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=head["manifest"])["Body"].read())
    manifest["files"][path] = manifest["files"]["ok.txt"]
    body = json.dumps(manifest).encode()
    s3.put_object(Bucket=bucket, Key=head["manifest"], Body=body)
    head["manifest_sha256"] = hashlib.sha256(body).hexdigest()
    s3.put_object(Bucket=bucket, Key=".iaf-state/HEAD.json", Body=json.dumps(head).encode())
    target = tmp_path / "inside" / "target"
    target.mkdir(parents=True)
    before = tree(tmp_path)
    loader, _ = make_handler()
    with pytest.raises(UnsafePathError) as error:
        loader.load(str(target))
    assert repr(path) in str(error.value)
    assert tree(tmp_path) == before


def test_symlinks_are_not_followed_out_of_the_state_folder(make_handler, tmp_path, write, tree):
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "api key of another app")
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "real.txt", "real")
    os.symlink(outside / "secret.txt", a / "link-out.txt")
    os.symlink(outside, a / "dir-out")
    os.symlink(a / "real.txt", a / "link-in.txt")
    saver, log = make_handler()
    saver.load(str(a))
    saver.save(str(a))
    loader, _ = make_handler()
    # The second machine has a symlink where the snapshot has a folder: loading must not write through it.
    write(b, "placeholder", "x")
    os.symlink(outside, b / "sub")
    saver.load(str(a))
    write(a, "sub/file.txt", "belongs inside")
    saver.save(str(a))
    loader.load(str(b))
    got = tree(b)
    assert got["real.txt"] == got["link-in.txt"] == tree(a)["real.txt"]
    assert "link-out.txt" not in got and "dir-out" not in got
    assert got["sub"] == "dir" and (b / "sub" / "file.txt").read_text() == "belongs inside"
    assert tree(outside) == {"secret.txt": tree(outside)["secret.txt"]}
    assert (outside / "secret.txt").read_text() == "api key of another app"
