"""``lbaas completion bash``: a bash completion script, made from the parser itself so
it always knows every command, action and option of this version.

    source <(lbaas completion bash)                      # this shell
    lbaas completion bash > /etc/bash_completion.d/lbaas # every shell
"""

from __future__ import annotations

import argparse

SHELLS = ("bash",)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Long options (and short ones without a long form), and the fixed values of
    positional arguments (``completion bash``)."""
    words = [flag for action in parser._actions for flag in action.option_strings
             if flag.startswith("--") or len(action.option_strings) == 1]
    for action in parser._actions:
        if (not action.option_strings and action.choices
                and not isinstance(action, argparse._SubParsersAction)):
            words.extend(str(choice) for choice in action.choices)
    return words


def bash(parser: argparse.ArgumentParser) -> str:
    """The script: ``_lbaas`` finds the command and action among the words typed so
    far (a word counts only if it is one, so an option's value is never taken for a
    command) and offers what may follow them."""
    commands = _subcommands(parser)
    cases = [f'        "/") words="{" ".join([*commands, *_options(parser)])}" ;;']
    actions_of = []
    for word, sub in commands.items():
        actions = _subcommands(sub)
        actions_of.append(f'        {word}) actions="{" ".join(actions)}" ;;')
        cases.append(f'        "{word}/") words="{" ".join([*actions, *_options(sub)])}" ;;')
        for name, action_parser in actions.items():
            cases.append(f'        "{word}/{name}") words="{" ".join(_options(action_parser))}" ;;')
    return "\n".join([
        "# bash completion for lbaas (made by `lbaas completion bash`)",
        "_lbaas() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" action="" actions="" words="" i w',
        f'    local commands=" {" ".join(commands)} "',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        w="${COMP_WORDS[i]}"',
        '        if [[ -z $cmd && $commands == *" $w "* ]]; then',
        '            cmd=$w',
        '            case "$cmd" in',
        *actions_of,
        "            esac",
        '        elif [[ -n $cmd && -z $action && " $actions " == *" $w "* ]]; then',
        "            action=$w",
        "        fi",
        "    done",
        '    case "$cmd/$action" in',
        *cases,
        "    esac",
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "}",
        "complete -o default -F _lbaas lbaas",
        "",
    ])
