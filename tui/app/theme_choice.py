"""The app's themes: trainwatch's own from themes/ (each colour role a Textual variable), the one
to start with (--theme, else the remembered one, else the default), `t` to cycle, and the choice
remembered in the user's config.

A mixin of the App (TrainWatch), like RunControlFlow."""
from __future__ import annotations

from textual.theme import Theme

from tui.app.textual_themes import textual_theme
from tui.settings.user_config import UserConfigError, remember_theme, remembered_theme
from tui.view.theme_files import DEFAULT_THEME, load_theme_specs


class ThemeChoice:
    """Theme loading, choosing and remembering, mixed into the App."""

    def _read_themes(self) -> None:
        """Before App.__init__, which already asks for the theme variable defaults."""
        self._theme_specs, self.theme_errors = load_theme_specs(check=textual_theme)
        self._dark_defaults = next((dict(spec.variables) for spec in self._theme_specs
                                    if spec.name == DEFAULT_THEME), {})

    def _register_themes(self, wanted: str | None) -> None:
        self.theme_names: list[str] = []
        for spec in self._theme_specs:
            self.register_theme(textual_theme(spec))
            self.theme_names.append(spec.name)
        self._wanted_theme = wanted

    def get_theme_variable_defaults(self) -> dict[str, str]:
        # Textual's own themes know nothing of our colour roles; they borrow the default theme's.
        return dict(self._dark_defaults)

    def _apply_start_theme(self) -> None:
        wanted = self._wanted_theme
        if wanted and wanted in self.available_themes:
            self.theme = wanted
        elif DEFAULT_THEME in self.available_themes:
            self.theme = DEFAULT_THEME
        if wanted and wanted not in self.available_themes:
            self.notify(f"unknown theme {wanted!r}; themes: {', '.join(self.theme_names)}", severity="warning")
        elif wanted and self.remember and wanted != remembered_theme():
            self._theme_changed(self.current_theme)  # chosen with --theme: remember it like a switch
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, theme: Theme) -> None:
        if self.remember:
            try:
                remember_theme(theme.name)
            except (OSError, UserConfigError) as error:
                self.notify(f"could not save the theme choice: {error}", severity="warning")

    def action_next_theme(self) -> None:
        names = self.theme_names or list(self.available_themes)
        position = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(position + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

