"""``copass-router completion bash|zsh``: a completion script made from the command's grammar,
so it offers every command and flag the parser knows and nothing it does not."""

from __future__ import annotations

import argparse


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--")]


def completion_script(parser: argparse.ArgumentParser, shell: str, commands: list[str]) -> str:
    """The script for ``shell``; ``commands`` adds the plugins' commands to the first word."""
    subs = _subcommands(parser)
    top = [*subs, *commands, *_flags(parser)]
    cases = []
    for name, sub in subs.items():
        words = [*_subcommands(sub), *_flags(sub)]
        cases.append(f"    {name}) words={' '.join(words)!r} ;;")
    script = (
        "_copass_router() {\n"
        '  local cur="${COMP_WORDS[COMP_CWORD]}" words\n'
        '  if [ "$COMP_CWORD" -eq 1 ]; then\n'
        f"    words={' '.join(top)!r}\n"
        "  else\n"
        '  case "${COMP_WORDS[1]}" in\n' + "\n".join(cases) + "\n    *) words='' ;;\n"
        "  esac\n"
        "  fi\n"
        '  COMPREPLY=($(compgen -W "$words" -- "$cur"))\n'
        "}\n"
        "complete -o default -F _copass_router copass-router\n"
    )
    if shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script
