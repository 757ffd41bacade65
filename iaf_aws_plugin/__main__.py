"""``python -m iaf_aws_plugin ARGS``: the host CLI with plugins loaded, explicitly."""
from __future__ import annotations


def main() -> None:
    from .host_bridge import host_cli

    host_cli()(prog_name="investing-algorithm-framework")


if __name__ == "__main__":
    main()
