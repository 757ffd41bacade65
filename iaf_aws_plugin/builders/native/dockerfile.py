"""What the native builder reads from a project's Dockerfile, and what it cannot reproduce.

The native builder makes the image the scaffolded Dockerfile describes (a Lambda Python base
image, ``pip install -r requirements.txt``, ``COPY .``, ``CMD [handler]``). Anything else
(e.g. a ``RUN`` of a system package manager) needs Docker: :attr:`DockerfileInfo.unsupported`
names it."""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HANDLER = "aws_function.lambda_handler"
LAMBDA_PYTHON = "public.ecr.aws/lambda/python"
_PIP_RUN = re.compile(r"^(?:python3?(?:\.\d+)?\s+-m\s+)?pip3?\s+install\b")
_COPY_OK = re.compile(r"^(?:--from=iaf-wheels\s+\S+\s+\S+|\S+\s+\$\{?LAMBDA_TASK_ROOT\}?/?\S*)$")


@dataclass(frozen=True)
class DockerfileInfo:
    base_image: str | None
    handler: str
    unsupported: tuple[str, ...]  # "line N: INSTRUCTION …" the native builder does not reproduce


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1].rstrip() + " "
            continue
        buffer += stripped
        lines.append((start, buffer))
        buffer = ""
    if buffer:
        lines.append((start, buffer))
    return lines


def read_dockerfile(project_dir: Path) -> DockerfileInfo | None:
    path = Path(project_dir) / "Dockerfile"
    if not path.is_file():
        return None
    base, handler, unsupported = None, DEFAULT_HANDLER, []
    froms = 0
    for number, line in _logical_lines(path.read_text(encoding="utf-8", errors="replace")):
        word, _, rest = line.partition(" ")
        instruction, rest = word.upper(), rest.strip()
        short = f"line {number}: {line if len(line) <= 60 else line[:57] + '...'}"
        if instruction == "FROM":
            froms += 1
            parts = [p for p in rest.split() if not p.startswith("--")]
            base = parts[0] if parts else None
            if froms > 1 or (base is not None and "$" in base):
                unsupported.append(short)
        elif instruction == "CMD":
            try:
                value = json.loads(rest)
                command = value if isinstance(value, list) else [str(value)]
            except ValueError:
                command = shlex.split(rest)
            if len(command) == 1:
                handler = str(command[0])
            else:
                unsupported.append(short)
        elif instruction == "RUN":
            if not _PIP_RUN.match(rest) or any(op in rest for op in ("&&", ";", "|")):
                unsupported.append(short)
        elif instruction == "COPY":
            if not _COPY_OK.match(rest):
                unsupported.append(short)
        elif instruction in ("LABEL", "ARG"):
            continue
        elif instruction == "WORKDIR" and "LAMBDA_TASK_ROOT" in rest:
            continue
        else:
            unsupported.append(short)
    return DockerfileInfo(base, handler, tuple(unsupported))


def python_version_of(base_image: str | None) -> str | None:
    """``public.ecr.aws/lambda/python:3.12`` (or any ``…:3.12[-suffix]`` tag) -> ``3.12``."""
    if not base_image:
        return None
    tag = base_image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
    match = re.match(r"^(3\.\d+)(?:\b|[.-])", tag)
    return match.group(1) if match else None
