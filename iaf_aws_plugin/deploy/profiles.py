"""Which AWS profile a command uses: ``--profile`` (``''`` clears a saved one), else ``AWS_PROFILE``,
else the one saved in the settings file, so that a profile saved on a laptop never breaks CI or
another machine. An empty ``AWS_PROFILE`` or an unknown profile is one line, never a traceback."""
from __future__ import annotations

import os
from typing import Any

from ..errors import PluginError


def choose_profile(flag: str | None, saved: Any) -> tuple[str | None, str]:
    """(the profile to use or None for the default chain, where it came from)."""
    if flag is not None:
        profile, source = (flag or None), "--profile"
    elif "AWS_PROFILE" in os.environ:
        profile, source = (os.environ["AWS_PROFILE"] or None), "AWS_PROFILE"
    else:
        profile, source = (str(saved) if saved else None), "the saved settings"
    if profile is None and os.environ.get("AWS_PROFILE") == "":
        raise PluginError("AWS_PROFILE is set but empty, so the AWS SDK cannot choose a profile.",
                          fix="Unset it (unset AWS_PROFILE) or set it to a profile of ~/.aws/config.")
    if profile is not None:
        check_profile(profile, source)
    return profile, source


def check_profile(profile: str, source: str = "--profile") -> None:
    """One line when ``profile`` is in no AWS config or credentials file."""
    import botocore.session

    try:
        known = set(botocore.session.Session(profile=profile).available_profiles)
    except Exception:  # an unreadable config file: let the SDK report it where it is used
        return
    if profile not in known:
        raise PluginError(f"the AWS profile {profile!r} does not exist (it comes from {source}).",
                          fix="Check it against ~/.aws/config (aws configure list-profiles); --profile '' "
                              "drops a saved one.")
