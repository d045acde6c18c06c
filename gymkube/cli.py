"""The `gymkube` command line: validate, crd, up, platform, operator, game-pod, token, bot, export, protocol-js."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gymkube.spec import ManifestError, load_experiment_file

if TYPE_CHECKING:
    from gymkube.progressbar import ProgressBar
    from gymkube.storage.scan import TablePlan


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_validate(args: argparse.Namespace) -> int:
    """Check manifests; print one line per problem with its field path."""
    failed = False
    for path in args.files:
        try:
            experiments = load_experiment_file(path)
        except ManifestError as exc:
            sys.stderr.write(exc.render() + "\n")
            failed = True
            continue
        from gymkube.spec.assets_check import asset_problems
        from gymkube.spec.browser_check import browser_warnings

        for experiment in experiments:
            folder = Path(path).resolve().parent
            errors, warnings = asset_problems(experiment, folder)
            for error in errors:
                sys.stderr.write(f"{path}: {error}\n")
            failed = failed or bool(errors)
            if not errors:
                _write(f"{path}: ok: experiment {experiment.name!r}")
            for warning in browser_warnings(experiment, folder) + warnings:
                _write(f"{path}: warning: {warning}")
    return 1 if failed else 0


def cmd_crd(args: argparse.Namespace) -> int:
    """Print the CustomResourceDefinition generated from the spec model."""
    from gymkube.spec.crd import render_crd_yaml

    _write(render_crd_yaml())
    return 0


def cmd_protocol_js(args: argparse.Namespace) -> int:
    """Print static/js/protocol.js, generated from the protocol table."""
    from gymkube.game_pod.protocol import render_protocol_js

    _write(render_protocol_js())
    return 0


def cmd_game_pod(args: argparse.Namespace) -> int:
    """Run one game pod, configured by GYMKUBE_* environment variables."""
    from gymkube.game_pod.server import run_game_pod

    return run_game_pod()


def cmd_up(args: argparse.Namespace) -> int:
    """Run the embedded platform: control plane plus game pods as local processes."""
    from gymkube.platform.embedded import run_embedded

    return run_embedded([Path(f) for f in args.files], host=args.host, port=args.port, data_dir=Path(args.data))


def cmd_platform(args: argparse.Namespace) -> int:
    """Run the control plane as configured by GYMKUBE_* variables (the image's entry point)."""
    from gymkube.platform.main import build_app
    from gymkube.platform.serve import serve
    from gymkube.platform.settings import SettingsError, get_settings

    settings = get_settings()
    try:
        app = build_app(settings)
    except SettingsError as exc:
        sys.stderr.write(f"gymkube platform: {exc}\n")
        return 2
    serve(app, settings.host, settings.port, proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    """Run the kopf operator (settings from GYMKUBE_* variables; the flags override them)."""
    import os

    if args.liveness:
        os.environ["GYMKUBE_LIVENESS_ENDPOINT"] = args.liveness
    if args.namespace:
        os.environ["GYMKUBE_WATCH_NAMESPACE"] = args.namespace
    from gymkube.operator.run import run_operator

    return run_operator()


def cmd_token(args: argparse.Namespace) -> int:
    """Create, list or revoke researcher tokens where the control plane keeps them (its state folder, or the
    cluster when GYMKUBE_RUNTIME=kubernetes, e.g. `kubectl exec deploy/gymkube-controlplane -- gymkube token ...`)."""
    import asyncio

    from gymkube.platform.state import open_state_for_command

    async def run() -> int:
        state = open_state_for_command(Path(args.state))
        await state.start()
        try:
            if args.action == "create":
                scope = [e.strip() for e in args.experiments.split(",") if e.strip()] if args.experiments else None
                token = await state.create_token(args.name, scope)
                sys.stderr.write(
                    f"token for {args.name!r} ({'experiments ' + ', '.join(scope) if scope else 'all experiments'}); "
                    "it is shown only now:\n"
                )
                _write(token)
            elif args.action == "list":
                for info in await state.list_tokens():
                    reach = ",".join(info.experiments) if info.experiments is not None else "*"
                    _write(f"{info.name}\t{reach}\t{info.sha256[:12]}")
            else:
                revoked = await state.revoke_tokens(args.name)
                sys.stderr.write(f"revoked {revoked} token(s) of {args.name!r}\n")
                return 0 if revoked else 1
            return 0
        finally:
            await state.close()

    try:
        return asyncio.run(run())
    except ValueError as exc:
        sys.stderr.write(f"gymkube token: {exc}\n")
        return 2


def _reading(verb: str) -> Callable[[TablePlan], ProgressBar]:
    """The progress bar of reading one table (`verb`: what the command does)."""
    from gymkube.progressbar import ProgressBar

    return lambda plan: ProgressBar(f"{verb} {plan.table}", plan.rows)


def cmd_export(args: argparse.Namespace) -> int:
    """Merge an experiment's data chunks into one table per kind; paths on stdout, progress on stderr."""
    from gymkube.storage.export import export_experiment

    started = time.monotonic()
    written = export_experiment(args.name, args.data, Path(args.out), args.format, _reading("export"))
    for table in written:
        sys.stderr.write(f"  {table.table:<10} {table.rows:>12,} rows {table.bytes / 1e6:>10.1f} MB  {table.path}\n")
        _write(str(table.path))
    rows, size, seconds = sum(t.rows for t in written), sum(t.bytes for t in written), time.monotonic() - started
    sys.stderr.write(
        f"exported {len(written)} tables of {args.name!r}: {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.1f} s\n"
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-run recorded episodes and compare them step by step; non-zero when any differs."""
    from gymkube.integrity.replay import replay_experiment, report
    from gymkube.progressbar import ProgressBar
    from gymkube.storage.backends import open_storage

    started = time.monotonic()
    try:
        results = replay_experiment(
            open_storage(args.data), args.name, Path(args.bundle) if args.bundle else None, set(args.episode or []),
            _reading("replay: read"), lambda episodes: ProgressBar("replay", episodes, unit="episodes"),
        )  # fmt: skip
    except LookupError as exc:
        sys.stderr.write(f"gymkube replay: {exc}\n")
        return 2
    _write(report(results))
    sys.stderr.write(f"replayed {len(results)} episodes of {args.name!r} in {time.monotonic() - started:.1f} s\n")
    return 0 if results and all(r.identical for r in results) else 1


def cmd_check(args: argparse.Namespace) -> int:
    """Check an experiment's data; non-zero with a list of problems when it is not consistent."""
    from gymkube.integrity.check import check_experiment
    from gymkube.storage.backends import open_storage

    started = time.monotonic()
    try:
        report = check_experiment(open_storage(args.data), args.name, _reading("check: read"))
    except LookupError as exc:
        sys.stderr.write(f"gymkube check: {exc}\n")
        return 2
    _write(report.render())
    sys.stderr.write(f"checked {args.name!r} in {time.monotonic() - started:.1f} s\n")
    return 0 if report.ok else 1


def cmd_bot(args: argparse.Namespace) -> int:
    """Pilot an experiment with bot participants and report how they fared (progress on stderr as they finish)."""
    import asyncio

    from gymkube.bot import ParticipantBot, run_bots
    from gymkube.progressbar import ProgressBar

    failures: dict[int, str] = {}
    started = time.monotonic()
    with ProgressBar("bots", args.count, unit="bots") as bar:

        def finished(bot: ParticipantBot, error: BaseException | None) -> None:
            if error is not None:
                failures[id(bot)] = f"failed: {type(error).__name__} {error}".strip()
            bar.update(bar.done + 1)

        bots = asyncio.run(run_bots(args.url, args.count, args.timeout, finished))
    for i, bot in enumerate(bots):
        if bot.completion_code:
            outcome = f"code {bot.completion_code}" + (f" (ended: {bot.end_reason})" if bot.end_reason else "")
        else:
            outcome = failures.get(id(bot)) or f"refused {bot.refused}"
        _write(f"bot {i}: {len(bot.scenes)} scenes, {bot.states} frames, {len(bot.inputs)} inputs, {outcome}")
    coded = [b for b in bots if b.completion_code]
    ended = sum(1 for b in coded if b.end_reason)
    refused = sum(1 for b in bots if not b.completion_code and id(b) not in failures)
    _write(f"{len(coded)} of {len(bots)} bots finished ({ended} with an early ending), {refused} refused, "
           f"{len(failures)} failed, in {time.monotonic() - started:.1f} s")  # fmt: skip
    return 0 if len(coded) == len(bots) else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="gymkube", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check Experiment manifests")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("crd", help="print the Experiment CRD generated from the spec model")
    p.set_defaults(func=cmd_crd)

    p = sub.add_parser("protocol-js", help="print static/js/protocol.js")
    p.set_defaults(func=cmd_protocol_js)

    p = sub.add_parser("game-pod", help="run one game pod (configured by GYMKUBE_* variables)")
    p.set_defaults(func=cmd_game_pod)

    p = sub.add_parser("up", help="run experiments on this machine and print participant URLs")
    p.add_argument("files", nargs="*", metavar="EXPERIMENT.yaml")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data", default=".gymkube", help="folder for data and state")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("platform", help="run the control plane (configured by GYMKUBE_* variables)")
    p.set_defaults(func=cmd_platform)

    p = sub.add_parser("operator", help="run the Kubernetes operator (configured by GYMKUBE_* variables)")
    p.add_argument("--liveness", help="kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz")
    p.add_argument("--namespace", help="watch this namespace only (default: all)")
    p.set_defaults(func=cmd_operator)

    p = sub.add_parser("token", help="researcher tokens for the REST API")
    token_sub = p.add_subparsers(dest="token_command", required=True)
    for action, about in (("create", "create a token (printed once, stored hashed)"), ("list", "list tokens"),
                          ("revoke", "delete every token of a researcher")):  # fmt: skip
        p = token_sub.add_parser(action, help=about)
        if action != "list":
            p.add_argument("name", help="who the token is for")
        if action == "create":
            p.add_argument("--experiments", help="comma-separated experiment names this token is limited to")
        p.add_argument("--state", default=".gymkube", help="the control plane's state folder (embedded runtime)")
        p.set_defaults(func=cmd_token, action=action)

    p = sub.add_parser("bot", help="pilot an experiment with bot participants")
    p.add_argument("url", help="the participant entry URL, e.g. http://127.0.0.1:8000/x/cartpole")
    p.add_argument("--count", type=int, default=1, choices=range(1, 501), metavar="N")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    p.set_defaults(func=cmd_bot)

    p = sub.add_parser("export", help="merge an experiment's data into one table per kind")
    p.add_argument("name", help="experiment name")
    p.add_argument("--data", default=".gymkube/storage", help="storage: a folder or s3://bucket/prefix")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--out", default=".", help="folder to write the tables to")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("check", help="check that an experiment's data is complete and consistent")
    p.add_argument("name", help="experiment name")
    p.add_argument("--data", default=".gymkube/storage", help="storage: a folder or s3://bucket/prefix")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("replay", help="re-run recorded episodes and compare them step by step")
    p.add_argument("name", help="experiment name")
    p.add_argument("--data", default=".gymkube/storage", help="storage: a folder or s3://bucket/prefix")
    p.add_argument("--episode", action="append", metavar="GAME[:EPISODE]", help="only these (repeatable)")
    p.add_argument("--bundle", help="the experiment's files, when no archived copy is beside the data")
    p.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gymkube` command."""
    args = build_parser().parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
