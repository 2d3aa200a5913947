"""A corpus's own options (its `add_arguments`) seen from a recipe, and old spellings kept alive.

A recipe's stage 1 takes the corpus's options on its command line (`./run.sh --label_set 4class`),
the shell way: option `--label-set` is the shell variable `label_set`, a flag (`--text-only`) a
`true`/`false` variable. `shell_options` lists them for emo.sh, which declares one variable each
and hands `prepare_corpus` the ones set to something other than their default.

`old_spelling` keeps a renamed option working for a while: it still sets the new option's `dest`,
says on stderr which spelling replaces it, and is hidden from --help and from `shell_options`.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass

from mer.data.corpora.registry import Corpus, CorpusInterfaceError

SHELL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ShellOption:
    name: str      # the shell variable: label_set
    option: str    # what prepare_corpus takes: --label-set
    flag: bool     # takes no value: true on the shell side adds the option
    default: str   # the shell default: "false" for a flag, "" for None
    help: str


class OldSpelling(argparse.Action):
    """An option's former spelling: sets the same dest and names the new spelling on stderr."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; it is now {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def old_spelling(parser, old: str, new: str, dest: str, **kwargs) -> None:
    """Accept `old` as a hidden, deprecated spelling of the option `new` (same dest)."""
    parser.add_argument(old, dest=dest, action=OldSpelling, new=new, help=argparse.SUPPRESS, **kwargs)


class _Recording(argparse.ArgumentParser):
    """A parser that keeps every action its add_argument made, in order."""

    def __init__(self) -> None:
        super().__init__(add_help=False)
        self.recorded: list[argparse.Action] = []

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        self.recorded.append(action)
        return action


def shell_options(corpus: Corpus) -> list[ShellOption]:
    """The corpus's options as shell options, in the order the module declares them."""
    parser = _Recording()
    corpus.add_arguments(parser)
    out = []
    for action in parser.recorded:
        if action.help == argparse.SUPPRESS:
            continue  # an old spelling, or an option the corpus hides
        option = next((s for s in action.option_strings if s.startswith("--")), None)
        name = option[2:].replace("-", "_") if option else ""
        if not SHELL_NAME_RE.match(name):
            raise CorpusInterfaceError(f"corpus {corpus.name}: option {action.option_strings or action.dest} has no "
                                       f"long name a recipe can take as a shell variable (--lower-case-words)")
        flag = action.nargs == 0
        default = "false" if flag else ("" if action.default is None else str(action.default))
        out.append(ShellOption(name, option, flag, default, " ".join((action.help or "").split())))
    return out


def shell_table(corpus: Corpus) -> str:
    """One tab-separated line per option: name, option, flag|value, default, help (emo.sh reads it)."""
    return "".join(f"{o.name}\t{o.option}\t{'flag' if o.flag else 'value'}\t{o.default}\t{o.help}\n"
                   for o in shell_options(corpus))
