"""The documentation in docs/ says what the installed package does.

- The generated pages and blocks (docs/generate.py: commands, policies, cost table) equal what the
  generator writes from the installed wheel now.
- Every error message in docs/troubleshooting.md occurs in the package's own messages.
- docs/settings.md documents exactly the keys the settings file may hold, and its example file is
  one the package accepts.
- Every relative link of the docs (and of README's Documentation section) leads to a file.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from dataclasses import dataclass
from types import ModuleType

import pytest

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("iaf_docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_pages_are_up_to_date() -> None:
    generate = _generator()
    pages = generate.expected_pages(DOCS)
    assert DOCS / "commands.md" in pages and DOCS / "security.md" in pages and DOCS / "cost.md" in pages
    stale = [path.name for path, text in pages.items() if path.read_text(encoding="utf-8") != text]
    assert not stale, f"out of date with the code: {stale}; run `python docs/generate.py`"


def test_a_stale_generated_block_is_found(tmp_path: Path) -> None:
    generate = _generator()
    current = (DOCS / "security.md").read_text(encoding="utf-8")
    stale = re.sub(r"(<!-- BEGIN GENERATED: execution-role -->\n).*?(<!-- END GENERATED)", r"\1stale\n\2", current,
                   flags=re.DOTALL)
    assert stale != current
    (tmp_path / "security.md").write_text(stale, encoding="utf-8")
    assert generate.expected_pages(tmp_path)[tmp_path / "security.md"] == current


def test_commands_page_names_every_option_of_every_command() -> None:
    import click

    generate = _generator()
    text = (DOCS / "commands.md").read_text(encoding="utf-8")

    def walk(command: click.Command) -> None:
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    assert f"`{opt}`" in text, f"{command.name}: {opt} is not documented"
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                assert f"`{command.name} {sub.name}`" in text
                walk(sub)

    for command in generate.plugin_commands():
        assert f"## `{command.name}`" in text
        walk(command)


# --- troubleshooting ------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{[^}]*\}|…")


FORMAT_FIELD = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass(frozen=True)
class Template:
    """A message of the package: NUL where a value is filled in (f-string or str.format field)."""

    text: str
    score: int  # letters and digits of its fixed text
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, text: str) -> "Template":
        return cls(text, sum(c.isalnum() for c in text.replace("\x00", "")), _compile(text))


def _compile(text: str) -> re.Pattern[str]:
    return re.compile("(.+?)".join(re.escape(part) for part in text.split("\x00")), re.DOTALL)


def _package_messages() -> list[Template]:
    """Every string literal and f-string of the installed package, whitespace collapsed as
    PluginError prints it."""
    import iaf_aws_plugin

    root = Path(iaf_aws_plugin.__file__).parent
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "\x00" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = FORMAT_FIELD.sub("\x00", node.value)
            else:
                continue
            found.add(" ".join(text.split()))
    return [t for t in map(Template.of, sorted(found)) if t.score >= 3]


def _best_inner(value: str, templates: list[Template]) -> int:
    """The fixed text of the most specific message that prints ``value`` whole (0: none)."""
    return max((t.score for t in templates if t.pattern.fullmatch(value)), default=0)


def _occurs(message: str, templates: list[Template]) -> bool:
    """Whether the package can print the documented ``message``: ``{...}`` stands for a value, a
    trailing ``…`` for the rest of the text. A message may be composed of two (one filling in a
    value of the other): then every value longer than 15 characters must be a message of the
    package, and together they must fix at least 12 letters and digits."""
    truncated = message.rstrip().endswith("…")
    text = " ".join(PLACEHOLDER.sub("X", message.rstrip().removesuffix("…")).split())
    for template in templates:
        patterns = [template.pattern]
        if truncated:
            head = template.text.split("\x00", 1)[0].strip()
            if head and head[:12] not in text:
                continue
            patterns += [_compile(template.text[:i]) for i, c in enumerate(template.text) if c == " "]
        for pattern in patterns:
            found = pattern.fullmatch(text) if not truncated else re.fullmatch(pattern.pattern + ".*", text, re.DOTALL)
            if found is None:
                continue
            if template.score >= 12:
                return True
            # Composed: each longer value must be a message of the package itself.
            inner = [_best_inner(group, templates) for group in found.groups() if group != "X"]
            long_values = [group for group in found.groups() if len(group) > 15 and group != "X"]
            if all(_best_inner(group, templates) for group in long_values) and template.score + sum(inner) >= 12:
                return True
    return False


def troubleshooting_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in (DOCS / "troubleshooting.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows.append((cells[0][1:-1].replace("\\|", "|"), cells[1], cells[2]))
    return rows


def test_troubleshooting_covers_the_common_failures() -> None:
    rows = troubleshooting_rows()
    assert len(rows) >= 25, f"only {len(rows)} documented messages"
    documented = " ".join(message for message, _, _ in rows)
    for must in ("no AWS credentials were found", "access denied", "invalid --memory-size", "invalid --timeout",
                 "Invalid schedule", "has no aws_function.py", "Docker daemon is not running",
                 "does not exist in ECR repository", "is leased by", "Refusing to save",
                 "Refusing to load the state", "Permission preflight", "this project was deployed to AWS account"):
        assert must in documented, f"troubleshooting.md does not explain: {must}"
    for _, cause, fix in rows:
        assert cause and fix, "every row says a cause and a fix"


MESSAGES = _package_messages()


@pytest.mark.parametrize("message", [row[0] for row in troubleshooting_rows()])
def test_troubleshooting_message_occurs_in_the_code(message: str) -> None:
    assert _occurs(message, MESSAGES), f"no message of the package reads like: {message}"


def test_the_troubleshooting_check_can_fail() -> None:
    assert _occurs("invalid --memory-size 64: Lambda allows 128 to 10240 MB.", MESSAGES)
    assert _occurs("invalid --memory-size {value}: Lambda allows …", MESSAGES)
    assert not _occurs("invalid --memory-size 64: Lambda permits 128 to 10240 MB.", MESSAGES)
    assert not _occurs("the deploy failed because of a reason nobody wrote", MESSAGES)
    assert not _occurs("{step} failed: {reason}", MESSAGES)  # too little fixed text to tell


# --- settings ---------------------------------------------------------------------------------

def test_settings_page_documents_exactly_the_saved_keys(tmp_path: Path) -> None:
    from iaf_aws_plugin.deploy import settings

    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    table_keys = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    assert table_keys == set(settings._SAVED_KEYS) | {"version"} | set(settings.FILE_KEYS)

    examples = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    assert examples, "settings.md shows a settings file"
    for example in examples:
        data = json.loads(example)
        (tmp_path / settings.SETTINGS_FILE).write_text(example)
        assert settings.load_file(tmp_path) == data  # the package reads it back, no unknown key


# --- state -----------------------------------------------------------------------------------

def test_the_state_page_cites_tests_that_exist() -> None:
    cited = set(re.findall(r"`(test_[a-z0-9_]+)`", (DOCS / "state.md").read_text(encoding="utf-8")))
    assert len(cited) >= 15
    defined = set()
    for path in (REPO / "tests" / "state").glob("test_*.py"):
        defined.update(re.findall(r"^def (test_[a-z0-9_]+)", path.read_text(encoding="utf-8"), re.MULTILINE))
    assert cited <= defined, f"state.md cites tests that do not exist: {sorted(cited - defined)}"


# --- links ------------------------------------------------------------------------------------

def test_relative_links_lead_to_files() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    assert "docs/" in section
    sources = [(REPO, section)] + [(DOCS, p.read_text(encoding="utf-8")) for p in sorted(DOCS.glob("*.md"))]
    for base, text in sources:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (base / target).exists(), f"broken link: {target}"
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)\)", section))
    assert linked >= {"README.md", "commands.md", "output.md", "settings.md", "state.md", "security.md", "cost.md",
                      "troubleshooting.md", "migration.md", "comparison.md"}
