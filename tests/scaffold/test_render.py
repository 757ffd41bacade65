"""Template rendering: placeholders are filled, unknown ones are errors."""
from __future__ import annotations

import pytest

from iaf_aws_plugin.errors import PluginError
from iaf_aws_plugin.scaffold import (compatible_range, default_values, iter_templates, lambda_python_version,
                                     output_name, render, templates_root)

pytestmark = pytest.mark.anyhost  # the result does not depend on the host version: CI runs it in one leg


def test_render_fills_placeholders() -> None:
    assert render("FROM x:{{ python_version }}\n{{name}}", {"python_version": "3.12", "name": "a"}) == "FROM x:3.12\na"


def test_unknown_placeholder_is_an_error_naming_it() -> None:
    with pytest.raises(PluginError, match=r"unknown placeholder \{\{ nope \}\}"):
        render("a {{ nope }} b", {"known": "x"}, source="Dockerfile")


def test_malformed_placeholder_is_an_error() -> None:
    with pytest.raises(PluginError, match="malformed placeholder"):
        render("a {{ not a name }} b", {})


def test_shell_style_variables_are_left_alone() -> None:
    assert render("COPY . ${LAMBDA_TASK_ROOT}/", {}) == "COPY . ${LAMBDA_TASK_ROOT}/"


def test_every_shipped_template_renders_with_the_default_values(tmp_path) -> None:
    values = default_values(tmp_path)
    rendered = {rel: render(t.read_text(encoding="utf-8"), values, source=rel)
                for rel, t in iter_templates(templates_root())}
    assert "aws_function.py" in rendered and ".dockerignore" in rendered
    assert not any("{{" in text for text in rendered.values())


@pytest.mark.parametrize(("name", "expected"), [
    ("dot-gitignore.tmpl", ".gitignore"), ("Dockerfile.tmpl", "Dockerfile"), ("dot-gitkeep", ".gitkeep"),
    ("aws_function.py.tmpl", "aws_function.py"),
])
def test_output_names(name: str, expected: str) -> None:
    assert output_name(name) == expected


@pytest.mark.parametrize(("version", "expected"), [
    ((3, 12), "3.12"), ((3, 10), "3.10"), ((3, 9), "3.10"), ((3, 99), "3.14"),
])
def test_lambda_python_version(version: tuple[int, int], expected: str) -> None:
    assert lambda_python_version(version) == expected


@pytest.mark.parametrize(("version", "expected"), [
    ("8.10.0", ">=8.10.0,<9"), ("0.1.0", ">=0.1.0,<0.2"), ("0.1.0.dev0", ">=0.1.0.dev0,<0.2"),
])
def test_compatible_range(version: str, expected: str) -> None:
    assert compatible_range(version) == expected
