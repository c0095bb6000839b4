"""The ``fewner`` command line: a thin layer over the library.

Subcommands live in their own modules and are imported only when invoked, so ``fewner data
stats`` does not pay for importing torch. Add a command by adding an entry to ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import sys

import click

from fewner.errors import FewnerError

# command name -> "module:attribute" of a click command or group
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("fewner.cli.data_cmd:data", "Read, inspect and convert NER data files."),
    "episodes": ("fewner.cli.episodes_cmd:episodes", "Sample N-way K~2K-shot episodes; pair fixed support sets with test sets."),
    "evaluate": ("fewner.cli.evaluate_cmd:evaluate", "Score predictions against gold spans (P/R/F1, boundary errors)."),
    "demo": ("fewner.cli.demo_cmd:demo", "Run the main job on the bundled sample data."),
    "models": ("fewner.cli.models_cmd:models", "List and prepare the embedded model catalogue."),
    "generate": ("fewner.cli.generate_cmd:generate", "Generate text with a language-model backend."),
    "train": ("fewner.cli.train_cmd:train", "Train a LoRA adapter with a staged recipe (--recipe obp-llm, ... or --config FILE); saves RUN/model."),
    "source-train": ("fewner.cli.source_train_cmd:source_train", "Train the LLM extractor's broad source stage (many types, many datasets); saves OUT/model."),
    "extract-lora": ("fewner.cli.extract_lora_cmd:extract_lora", "Turn a fully trained model folder (source-train full=true) into a small LoRA adapter folder."),
    "bulk": ("fewner.cli.bulk_cmd:bulk", "Predict a large corpus shard by shard on a Dask cluster (resumable, output in input order)."),
    "fit": ("fewner.cli.fit_cmd:fit", "Fit a model on a few labeled examples with any recipe (span, obp-llm, icl, ...); saves OUT/model."),
    "predict": ("fewner.cli.predict_cmd:predict", "Label a data file with a language model (one prompt per entity type)."),
    "icl": ("fewner.cli.icl_cmd:icl", "Label a file with an in-context ensemble of small LLMs (EL4NER), no training."),
    "annotate": ("fewner.cli.annotate_cmd:annotate", "Annotate sentences with a language model (teacher) for distillation."),
    "distill": ("fewner.cli.distill_cmd:distill", "Train a small token classifier on distilled + original data (--recipe distill, groups A-E)."),
    "distill-from": ("fewner.cli.distill_from_cmd:distill_from", "Support set + unlabeled text -> teacher labels -> student -> F1 table; saves RUN/model."),
    "serve": ("fewner.cli.serve_cmd:serve", "Serve a model over HTTP (POST /v1/extract; batching, limits, optional token)."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the short help from COMMANDS so `fewner --help` imports nothing.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fewner")
def cli() -> None:
    """fewner: few-shot named entity recognition with language models.

    Every command takes --help. Data files: CoNLL-2003 (4 columns), two-column token/tag
    (BIO or IO), Few-NERD episode JSONL, fewner JSONL (text + character-offset entities)
    and plain text.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: user-facing errors become one line on stderr and exit code 2."""
    try:
        cli.main(args=argv, prog_name="fewner", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except FewnerError as err:
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except OSError as err:
        # Missing files, permissions, full disks: say what and where, not a traceback.
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(2)
