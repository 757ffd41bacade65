"""The plugin's boto3 sessions share botocore's parsed data files, and nothing else."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from iaf_aws_plugin.boto_sessions import new_botocore_session, new_session

pytestmark = [pytest.mark.usefixtures("restore_environ"), pytest.mark.anyhost]


def test_sessions_share_parsed_models_and_keep_their_own_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = new_session()
    assert first.get_credentials().access_key == "first-key"
    model = first._session.get_service_model("s3")  # parsed here ...
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second-key")
    second = new_botocore_session()
    assert second is not first._session
    assert second.get_credentials().access_key == "second-key"  # resolved by each session itself
    # ... and not again: the same parsed document
    assert second.get_component("data_loader") is first._session.get_component("data_loader")
    assert second.get_service_model("s3")._service_description is model._service_description


def test_another_data_path_reads_its_own_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = new_botocore_session().get_component("data_loader")
    model = shared.load_service_model("s3", "service-2")
    version = model["metadata"]["apiVersion"]
    folder = tmp_path / "s3" / version
    folder.mkdir(parents=True)
    changed = dict(model, documentation="changed copy")
    (folder / "service-2.json").write_text(json.dumps(changed))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    other = new_botocore_session()
    assert other.get_component("data_loader") is not shared
    assert other.get_service_model("s3").documentation == "changed copy"
    monkeypatch.delenv("AWS_DATA_PATH")
    assert new_botocore_session().get_component("data_loader") is shared
