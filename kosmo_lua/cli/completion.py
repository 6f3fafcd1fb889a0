"""Bash completion for command names with a colon (``integrations:lua``).

Bash splits the word being completed at every character of ``COMP_WORDBREAKS``, ':'
included, so click's own script sends ``integrations``, ``:``, ``l`` for
``kosmo integrations:l`` and gets nothing back. This script also sends the command line
and the cursor: the words are split from those, and each candidate loses what bash keeps
of the word (up to its last ':'), as bash-completion's ``__ltrim_colon_completions`` does.
zsh and fish keep such words whole: click's scripts serve them as they are.
"""

from __future__ import annotations

import os
from typing import Any

from click.shell_completion import BashComplete as ClickBashComplete
from click.shell_completion import CompletionItem, split_arg_string

# Click's script, also sending what bash knows of the whole line.
_SENT = "COMP_CWORD=$COMP_CWORD "
SOURCE = ClickBashComplete.source_template.replace(
    _SENT,
    _SENT + 'COMP_LINE="$COMP_LINE" COMP_POINT=$COMP_POINT COMP_WORDBREAKS="$COMP_WORDBREAKS" ',
)


class BashComplete(ClickBashComplete):
    """Click's bash completion, for words that bash splits at ':'."""

    source_template = SOURCE
    kept = ""  # the start of the current word that bash keeps: "integrations:"

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE")
        if line is None:  # click's own script, or a caller that sends only COMP_WORDS
            return super().get_completion_args()
        before = line[: int(os.environ.get("COMP_POINT", len(line)))]
        words = split_arg_string(before)
        incomplete = words.pop() if words and not before[-1:].isspace() else ""
        if ":" in os.environ.get("COMP_WORDBREAKS", ""):
            self.kept = incomplete[: incomplete.rfind(":") + 1]
        return words[1:], incomplete

    def format_completion(self, item: CompletionItem[Any]) -> str:
        value = str(item.value)
        return f"{item.type},{value.removeprefix(self.kept)}"
