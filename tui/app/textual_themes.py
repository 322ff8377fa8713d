"""Theme specs from theme files turned into Textual Themes, every colour checked by Textual's own parser."""
from __future__ import annotations

from textual.color import Color, ColorParseError
from textual.css.constants import VALID_STYLE_FLAGS
from textual.theme import Theme

from tui.view.theme_files import COLOUR_FIELDS, ThemeFileError, ThemeSpec
from tui.settings.yaml_documents import value_text


def textual_theme(spec: ThemeSpec) -> Theme:
    """The Theme for a spec; ThemeFileError naming the key when a value is not one Textual can use
    (it would otherwise fail when the theme is switched to, taking the app down)."""
    for key in COLOUR_FIELDS:
        if key in spec.fields:
            _check_colour(spec, key, spec.fields[key])
    for key, value in spec.variables.items():
        if key.endswith("-style"):  # Textual's few non-colour variables: a text style such as "bold"
            if not value.split() or not set(value.split()) <= VALID_STYLE_FLAGS:
                raise ThemeFileError(f"{spec.path}: variables.{key} must be a text style such as \"bold\", "
                                     f"got {value_text(value)}")
        else:
            _check_colour(spec, f"variables.{key}", value)
    return Theme(name=spec.name, variables=dict(spec.variables), **spec.fields)


def _check_colour(spec: ThemeSpec, key: str, value: str) -> None:
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{spec.path}: {key} must be a colour such as \"#5aa9e6\" or \"red\", "
                             f"got {value_text(value)}") from None
