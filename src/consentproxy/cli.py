"""Command line: serve, demo, healthcheck, check-config, declaration, catalog, suggest, scan,
records."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import math
import os
import re
import secrets
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from consentproxy.adapter import (
    Engine,
    build_engine,
    package_version,
    records_can_open,
    secret_keys,
)
from consentproxy.catalog import CATALOG_CATEGORIES, imports, knowledge
from consentproxy.catalog.knowledge import LAYER_HEADER, format_layer, read_layer
from consentproxy.catalog.ocd import (
    DATABASE_FILE,
    MAX_DATABASE_BYTES,
    UPSTREAM,
    CookieDatabase,
    parse_database,
    snapshot_text,
)
from consentproxy.config import (
    FORMER_CMP,
    HOST_RE,
    builtin_services,
    catalog_config,
    decode_utf8,
    did_you_mean,
    load_config,
)
from consentproxy.consent import keys_from_env, parse_state
from consentproxy.domains import site_of
from consentproxy.errors import ConfigError, UsageError, UserError
from consentproxy.files import read_at_most
from consentproxy.formercmp import UNDATED
from consentproxy.observe import config_warnings, suggest
from consentproxy.policy import NEVER, Policy, names_cookie
from consentproxy.printable import passwords_in, printable, without_passwords
from consentproxy.proof import digest_of, shown_page
from consentproxy.record import COLUMNS, OUTCOMES, ConsentRecord, Stats, summarise
from consentproxy.records import (
    PostgresStore,
    RecordStore,
    SqliteStore,
    open_store,
    redacted,
)
from consentproxy.rewrite import scanner
from consentproxy.rewrite.neutralise import url_target
from consentproxy.settings import Config, host_port, parse_listen

log = logging.getLogger("consentproxy")
DEMO_DIR = Path(__file__).parent / "demo"
WORKERS_PER_CPU = 4  # serve --workers: a ceiling well above any use, far below a fork bomb


def cmd_serve(args: argparse.Namespace) -> int:
    from consentproxy import runtime  # aiohttp and the rest: only to serve

    # A reload asked for while the proxy starts (a `systemctl reload`, a logrotate) must not
    # kill it (HUP's default): ignored until each process has its handler (serve_forever).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give 1 or more processes")
    if args.state is not None and not args.state.strip():  # (a QA script's unset $STATE)
        raise UsageError(
            "--state is empty; give none, all, reject, categories or service:NAME items, "
            "or cookie (or no --state) to follow the visitor's cookie"
        )
    most = WORKERS_PER_CPU * (os.cpu_count() or 1)
    if args.workers > most:  # (a typo's 10000 forked until the machine gave out)
        raise UsageError(
            f"--workers {args.workers}: give at most {most} ({WORKERS_PER_CPU} per CPU here); "
            "each worker is a process with one event loop, so more than the CPUs only cost memory"
        )
    keys: list[bytes] = []

    def make_engine() -> Engine:
        config = load_config(args.config).with_overrides(args.upstream, args.listen)
        if config.upstream is None:
            raise UsageError(
                f"{args.config} names no upstream (its sites are for mitmproxy's "
                "forward mode); add 'upstream: URL' or pass --upstream URL"
            )
        records_can_open(config, args.config)
        keys[:] = keys or secret_keys(config)  # read once: a reload keeps them
        return build_engine(
            config,
            keys,
            forced=parse_state(args.state or "", config, "--state"),
            observe=log.info if args.observe else None,
        )

    engine = make_engine()  # every mistake shows before anything starts
    config = engine.config
    if warning := config.testing_warning():
        log.warning("%s", warning)
    for warning in config_warnings(engine.policy):  # (check-config's, said where it runs:
        log.warning("%s: %s", config.source, warning)  # an upgrade may bring new ones)
    if not scanner.C_LOOP:
        log.warning(
            "the rewriter's C loop is not built (installed without a C compiler): pages "
            "are rewritten about 7 times slower; reinstall with gcc present"
        )
    if engine.forced_state is not None:
        log.warning(
            "every visitor gets the forced consent state %r (--state): for testing "
            "and staging only",
            args.state,
        )
    upstream = redacted(config.upstream or "")  # (serve refused a config with none above)
    banner = f"consentproxy: http://{host_port(config.listen_host, '{port}')}/ -> {upstream}"
    if (args.workers > 1 or args.share_port) and config.listen_port == 0:
        raise UsageError("--workers and --share-port need a fixed port (listen: HOST:PORT)")
    # Worker i's metrics on port + i: each checked here (65536 became 0; one taken or
    # listen's gave a traceback per worker).
    if args.workers > 1 and config.metrics_listen:
        host, port = config.metrics_listen
        metrics = f"{config.source}: metrics.listen {host_port(host, port)}"
        if not 0 < port <= 65536 - args.workers:
            raise UsageError(
                f"{metrics} with --workers {args.workers}: "
                f"worker i listens on port + i; give metrics.listen a port from 1 to "
                f"{65536 - args.workers}"
            )
        if port <= config.listen_port < port + args.workers:
            raise UsageError(
                f"{metrics} with --workers {args.workers}: "
                f"worker i listens on port + i, and {config.listen_port} is listen's; give "
                "metrics.listen ports of their own"
            )
        for worker in range(args.workers):
            runtime.port_free(config.source, host, port + worker, "metrics.listen")
    if args.workers > 1 and not args.share_port:
        source, key = runtime.listen_named(config)
        runtime.port_free(source, config.listen_host, config.listen_port, key)
    if args.workers > 1:
        print(f"consentproxy: {args.workers} workers", flush=True)
        return runtime.workers(
            args.workers,
            lambda worker: runtime.run(
                runtime.serve_forever(make_engine, banner, reuse_port=True, worker=worker)
            ),
        )
    engine = runtime.run(runtime.serve_forever(make_engine, banner, reuse_port=args.share_port))
    if engine.observer is not None:
        print("consentproxy: seen, named by no service:", *engine.observer.summary(), sep="\n  ")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from consentproxy import runtime

    runtime.run(_demo_origin(args.origin) if args.origin else _demo(args.port))
    return 0


async def _demo_origin(listen: str) -> None:
    """Only the legacy site, unprotected (the compose file puts proxies in front of it)."""
    from consentproxy import runtime
    from consentproxy.demo.origin import make_origin_app, serve_app

    host, port = parse_listen(listen, "--origin", None)
    runtime.port_free("demo", host, port, "--origin")
    async with serve_app(make_origin_app(DEMO_DIR / "pages"), host, port) as bound:
        print(
            f"consentproxy demo origin: http://{host_port(host, bound)}/ (unprotected)", flush=True
        )
        await runtime.until_stopped()


async def _demo(port: int) -> None:
    from consentproxy import runtime
    from consentproxy.demo.origin import make_origin_app, serve_app

    if port:  # (else the demo config's file and --listen would be named: demo has neither)
        runtime.port_free("demo", "127.0.0.1", port, "--port")
    demo = load_config(DEMO_DIR / "config.yaml")
    # A secret set is held to serve's rule (a short one refused); none: a throw-away key.
    keys = (
        secret_keys(demo)
        if keys_from_env(demo.consent.secret_env)
        else [secrets.token_hex(32).encode()]
    )
    async with serve_app(make_origin_app(DEMO_DIR / "pages")) as origin_port:
        config = demo.with_overrides(
            upstream=f"http://127.0.0.1:{origin_port}", listen=f"127.0.0.1:{port}"
        )
        await runtime.serve_forever(
            lambda: build_engine(config, keys),
            f"consentproxy demo: the legacy site is at http://127.0.0.1:{origin_port}/ "
            "(unprotected)\nOpen http://127.0.0.1:{port}/ to see it through consentproxy. "
            "Ctrl-C stops.",
        )


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Whether the serve of this config answers its healthz (the Docker image's HEALTHCHECK:
    a fixed URL there missed another prefix or port for good). Unhealthy is 1 whatever the
    cause: Docker reserves 2."""
    import urllib.request

    try:
        config = load_config(args.config, "healthcheck")
    except UserError as e:  # (scan's name the URL given, password and all)
        print(f"consentproxy: {without_passwords(str(e))}", file=sys.stderr)
        return 1
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.listen_host, config.listen_host)
    url = f"http://{host_port(host, config.listen_port)}{config.prefix}healthz"
    # No proxy: the serve is on this machine, and an http_proxy Docker put in the
    # environment took the check through the proxy, which failed it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=args.timeout) as resp:
            resp.read()
    except (OSError, ValueError) as e:
        print(f"consentproxy: {url} did not answer: {e}", file=sys.stderr)
        return 1
    return 0


def _unset(var: str) -> str:
    """What check-config says of a secret it cannot sign with: not set, or set to nothing
    but spaces and commas (which was reported as not set)."""
    if keys_from_env(var):
        return ""
    if var in os.environ:
        return " (set in this shell, but to no key: only spaces or commas)"
    return " (not set in this shell)"


def cmd_check_config(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.config_file is None):
        raise UsageError("check-config: give one config file (check-config FILE)")
    file = args.config_file if args.file is None else args.file  # (`or` took "" for none)
    config = load_config(file, "check-config")
    records_can_open(config, file)
    if keys_from_env(config.consent.secret_env):  # (set here: as serve would read it)
        secret_keys(config)
    print(f"{file}: OK")
    where = (
        f"upstream {redacted(config.upstream)}, "
        f"listening on {host_port(config.listen_host, config.listen_port)}"
        if config.upstream
        else "no upstream (sites only, for mitmproxy's forward mode)"
    )
    print(f"  {where}, endpoints under {config.prefix}")
    print(
        f"  consent cookie {config.consent.cookie_name!r}, valid "
        f"{config.consent.max_age_days} days, revision {config.consent.revision}, "
        f"signed with ${config.consent.secret_env}" + _unset(config.consent.secret_env)
    )
    print(f"  CSP {config.csp}")
    former = config.former_cmp
    if former is not None:
        max_age = config.consent.max_age_days * 86400
        idle = (  # (why an import imports nothing: the engine's former_choice says the same)
            f"consent.revision ({config.consent.revision}) is above former_cmp.revision "
            f"({former.revision}), the policy its choices were made under"
            if former.revision < config.consent.revision
            else f"until {datetime.fromtimestamp(former.until, UTC):%Y-%m-%d} is more than "
            f"{config.consent.max_age_days} days past"
            if former.until is not None and former.until + max_age < time.time()
            else None
        )
        print(
            f"  former consent tool {former.tool}"
            + (f" (its cookies on {former.path})" if former.path != "/" else "")
            + ": "
            + (
                "its scripts, loaders and cookies neutralised"
                if former.neutralise
                else "left running"
            )
            + (
                f"; no choice imported: {idle}"  # (before the advice: an import would not help)
                if idle
                else "; choices not imported (add import: {GROUP: category})"
                if not former.imports
                else "; a returning visitor's choice imported once ("
                + ", ".join(f"{g} -> {c}" for g, c in former.imports.items())
                + "".join(
                    f"; {c} needs the TCF vendors {', '.join(map(str, sorted(ids)))} consented too"
                    for c, ids in former.vendors.items()
                )
                + ")"
                + (
                    f"; {former.tool}'s cookie keeps no time: each choice taken as made "
                    f"{datetime.fromtimestamp(former.until, UTC):%Y-%m-%d %H:%M} UTC (or at "
                    "the visitor's first request, if before), none imported from "
                    f"{datetime.fromtimestamp(former.until + max_age, UTC):%Y-%m-%d %H:%M} UTC"
                    if former.tool in UNDATED and former.until is not None
                    else ""
                )
            )
        )
    if config.banner.open_selectors:
        print(
            "  the site's own elements that open the preferences: "
            + ", ".join(config.banner.open_selectors)
        )
    records = config.records
    print(
        f"  proof of consent: kept in {redacted(records.target)} for {records.retention_days} days"
        if records.target
        else "  proof of consent: not kept (add records: {path: FILE} to keep each decision)"
    )
    if config.regions is not None:
        regions = config.regions
        where = regions.header + (
            f" and {regions.subdivision_header}" if regions.subdivision_header else ""
        )
        print(
            f"  regions: from {where} (believed from trusted_proxies only): "
            + (f"opt-out in {', '.join(sorted(regions.opt_out))}; " if regions.opt_out else "")
            + "opt-in (consent first) everywhere else and where the place is unknown"
        )
    if config.consent_mode:
        advanced = [s.name for s in config.services if s.consent_mode == "advanced"]
        print(
            "  Google Consent Mode v2: "
            + (
                f"advanced for {', '.join(advanced)} (loaded before consent, signals denied, "
                "cookies held; contested in the EU), basic (held until consent) for the rest"
                if advanced
                else "basic (Google tags held until consent)"
            )
        )
    if config.gpc:
        print(
            f"  Global Privacy Control{' and Do-Not-Track' if config.dnt else ''} refuse: "
            f"{', '.join(config.gpc)}"
        )
    if config.sites:
        print(f"  sites (mitmproxy forward mode): {', '.join(config.sites)}")
        if config.loopback_warning():
            print(f"  warning: {config.loopback_warning()}")
    for cat in config.categories:
        services = [s.name for s in config.services if s.category == cat.name]
        print(
            f"  category {cat.name}{' (always on)' if cat.required else ''}: "
            + (", ".join(services) if services else "no services")
        )
    policy = Policy(config)
    print(
        "  cookies no service names: "
        + (
            f"classified by the built-in catalog, then the Open Cookie Database "
            f"({len(policy.database)} names), else "
            f"{config.unknown_cookies}"
            if policy.database is not None
            else config.unknown_cookies
        )
    )
    held = policy.known_domains(all_known=False)
    lists = f" and {', '.join(config.tracker_lists)}" if config.tracker_lists else ""
    print(
        "  third-party hosts no service names: off the site's own domain, "
        + (
            f"known trackers (built-in{lists}) wait for their category: "
            + ", ".join(
                f"{len(v)} domains for {k if k != NEVER else 'never (no category)'}"
                for k, v in sorted(held.items())
                if k
            )
            if config.known_trackers == "hold"
            else "known trackers load (known_trackers: allow)"
        )
        + f"; unknown ones: {config.unknown_third_parties}"
    )
    for warning in [*config_warnings(policy), *config.translation_warnings()]:
        print(f"  warning: {warning}")
    if testing := config.testing_warning():
        print(f"WARNING: {testing}", file=sys.stderr)
    return 0


def cmd_declaration(args: argparse.Namespace) -> int:
    """The cookie declaration, for a policy page the proxy does not serve."""
    from consentproxy.declaration import Declaration

    config = load_config(args.config)
    lang = args.lang or config.languages[0]
    if lang not in config.languages:
        raise UsageError(f"--lang {lang!r}: {args.config} offers {', '.join(config.languages)}")
    declaration = Declaration(config)
    if args.format == "markdown":
        sys.stdout.write(declaration.markdown(lang))
    elif args.format == "html":
        sys.stdout.write(declaration.html(lang, manage=False).decode("ascii") + "\n")
    else:
        sys.stdout.write(declaration.json(lang).decode() + "\n")
    return 0


def cmd_catalog_list(args: argparse.Namespace) -> int:
    services = builtin_services()
    width = max(map(len, services))
    for svc in services.values():
        print(f"{svc.name:<{width}}  {svc.category:<11}  {svc.display_title()} ({svc.vendor})")
    print(
        f"{len(services)} services; cookies they do not name: Open Cookie Database "
        f"snapshot ({DATABASE_FILE.name})"
    )
    return 0


def cmd_catalog_show(args: argparse.Namespace) -> int:
    svc = builtin_services().get(args.name)
    if svc is None:
        raise UsageError(
            f"no built-in service {args.name!r}{did_you_mean(args.name, builtin_services())}; "
            "`consentproxy catalog list` shows them"
        )
    for key in (
        "name",
        "title",
        "vendor",
        "category",
        "purpose",
        "retention",
        "embed",
        "placeholder",
        "privacy_url",
        "hosts",
        "domains",
        "cookies",
        "inline",
        "globals",
        "consent_mode",
        "tcf_vendor",
    ):
        value = getattr(svc, key)
        if isinstance(value, dict):  # translated: one line per language
            value = "; ".join(f"({lang}) {text}" for lang, text in value.items())
        if value:
            label = f"{key}:".ljust(13) if len(key) < 12 else f"{key}: "
            print(f"{label}{', '.join(value) if isinstance(value, tuple) else value}")
    return 0


def cmd_catalog_classify(args: argparse.Namespace) -> int:
    """What the catalog (first), the tracker knowledge base (hosts) and the Open Cookie
    Database (cookies) say of a cookie or host; with --config, what that config decides
    and which rule did."""
    if args.config:
        return _classify_under(load_config(args.config), args.what)
    policy = Policy(catalog_config())
    what = args.what
    found = False
    target = url_target(what if "//" in what else "//" + what)
    if target is not None and "." in target[0]:
        svc = policy.service_for_host(*target)
        if svc is not None:
            found = True
            print(
                f"host {target[0]}{target[1]}: service {svc.name} ({svc.category}), "
                f"{svc.display_title()}"
            )
        elif policy.knowledge.lookup(*target) is not None:
            found = True
            print(f"host {target[0]}{target[1]}: {policy.verdict(*target)}")
    category = policy.named_cookie_category(what)
    owners = [
        s.name
        for s in builtin_services().values()
        if category is not None and names_cookie(s.cookies, what)
    ]
    if category is not None:
        found = True
        print(f"cookie {what}: service {', '.join(owners) or '?'} ({category})")
    elif (record := policy.database_record(what)) is not None:
        found = True
        print(
            f"cookie {what}: Open Cookie Database: {record.platform}, "
            f"{record.source_category} -> {record.category}"
            + (f", kept {record.retention}" if record.retention else "")
            + (" (wildcard row)" if record.wildcard else "")
        )
    if not found:
        print(
            f"{what}: neither the catalog nor the Open Cookie Database knows it "
            "(unknown_cookies decides for a cookie; a host loads freely)"
        )
    return 0 if found else 1


def _classify_under(config: Config, what: str) -> int:
    """A cookie name, host or URL as `config` classifies it: its category, what that means
    for the visitor, and the rule that decided."""
    policy = Policy(config)
    target = url_target(what if "//" in what else "//" + what)
    is_host = target is not None and "." in target[0]
    if target is not None and is_host:
        host, path = target
        svc = policy.configured(host, path)
        if svc is None:
            print(
                f"host {host}{path}: no service of {config.source} names it; "
                f"{policy.verdict(host, path)}"
            )
        else:
            print(
                f"host {host}{path}: {_meaning(policy, svc.category)}, by "
                f"{_service_rule(config, svc.name)}"
            )
    if "/" in what or ":" in what:  # a URL: no cookie name
        if not is_host:  # (it printed nothing, with exit 0)
            raise UsageError(
                f"{what!r} is no cookie name (it holds '/' or ':') and names no host with a "
                "domain; give a cookie name (_ga), a host (www.example.com) or a URL "
                "(https://www.example.com/page)"
            )
        return 0
    category, rule = _cookie_rule(policy, what)
    if rule is None and not is_host:
        rule = f"unknown_cookies ({config.unknown_cookies}): nothing names it"
    if rule is not None:
        print(f"cookie {what}: {_meaning(policy, category)}, by {rule}")
    return 0


def _meaning(policy: Policy, category: str | None) -> str:
    """A category as what it means for the visitor."""
    if category is None:
        unknown = policy.config.unknown_cookies
        return {"allow": "unknown, allowed", "block": "unknown, blocked whatever is accepted"}.get(
            unknown, f"unknown, so {unknown} (needs consent)"
        )
    if category == FORMER_CMP:
        return f"{category} (the former consent tool: never allowed)"
    return f"{category} ({'always allowed' if category in policy.required else 'needs consent'})"


def _service_rule(config: Config, name: str) -> str:
    former = config.former_cmp
    if former is not None and former.neutralise and name == former.tool:
        return f"former_cmp (the built-in service {name}, neutralised)"
    return f"service {name} of {config.source}"


def _cookie_rule(policy: Policy, name: str) -> tuple[str | None, str | None]:
    """(the category, the rule that gave it) in the order Policy.cookie_category follows;
    (None, None) when nothing names the cookie."""
    config = policy.config
    required = next(c.name for c in config.categories if c.required)
    if name == config.consent.cookie_name:
        return required, "consent.cookie_name: the consent cookie itself"
    if names_cookie(config.necessary_cookies, name):
        return required, "necessary_cookies"
    owners = [s.name for s in config.services if names_cookie(s.cookies, name)]
    if owners:
        return policy.named_cookie_category(name), _service_rule(config, owners[0])
    svc = policy.catalog_service(name)
    record = policy.database_record(name) if svc is None else None
    category = policy.cookie_category(name)
    if svc is not None:
        rule = f"the catalog: built-in service {svc.name} ({svc.category}), not used by the config"
    elif record is not None:
        rule = (
            f"the Open Cookie Database: {record.platform}, {record.source_category} -> "
            f"{record.category}" + (" (wildcard row)" if record.wildcard else "")
        )
    else:
        return None, None
    if category is None:
        rule += f", a category {config.source} lacks: unknown_cookies ({config.unknown_cookies})"
    elif category != (svc.category if svc else record.category):  # type: ignore[union-attr]
        rule += f" -> {category} in this config"
    return category, rule


@contextmanager
def _writing(option: str) -> Iterator[None]:
    """An output the operator named with `option` that cannot be written (a read-only or
    missing directory, a file where a directory should be): theirs to fix, so a usage error
    naming the path, not a bare strerror with exit 1."""
    try:
        yield
    except OSError as e:
        why = "a file is there, not a directory" if isinstance(e, FileExistsError) else e.strerror
        raise UsageError(
            f"cannot write {e.filename} ({why}); give {option} a path this user can write to"
        ) from None


def cmd_catalog_update(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        with path.open("rb") as file:  # (a pipe too: `catalog update <(curl ...)`)
            data = file.read(MAX_DATABASE_BYTES + 1)
    except OSError as e:
        raise UsageError(
            f"cannot read {path} ({e.strerror}); download open-cookie-database.csv first"
        ) from None
    if len(data) > MAX_DATABASE_BYTES:
        raise ConfigError(
            str(path),
            None,
            f"more than {MAX_DATABASE_BYTES >> 20} MiB, which no cookie database is; check "
            f"the path, or download open-cookie-database.csv again from {UPSTREAM}",
        )
    text = decode_utf8(data, str(path), f"download open-cookie-database.csv again from {UPSTREAM}")
    records = parse_database(text, str(path))
    target = Path(args.into)
    with _writing("--into"):
        target.write_text(snapshot_text(records), encoding="utf-8")
    print(
        f"consentproxy: {len(CookieDatabase(records))} cookie names from {path} written to "
        f"{target}; note the upstream commit in {DATABASE_FILE.stem}.NOTICE.txt"
    )
    return 0


def cmd_catalog_import(args: argparse.Namespace) -> int:
    """Lists the operator may use, into a layer file its config names (tracker_lists)."""
    target = Path(args.into)
    try:
        layer = list(read_layer(target)) if target.exists() else []
    except ConfigError as e:  # (its fix, "make it with catalog import", is this command)
        raise UsageError(
            f"--into {target} is no tracker layer to add to ({str(e).rsplit('; ', 1)[0]}); "
            "give --into a new file, or a layer catalog import wrote (nothing written)"
        ) from None
    for name in args.files:
        try:
            data = read_at_most(Path(name), imports.MAX_LIST_BYTES)
        except OSError as e:
            raise UsageError(f"cannot read {name} ({e.strerror})") from None
        if len(data) > imports.MAX_LIST_BYTES:
            raise UsageError(
                f"{name}: more than {imports.MAX_LIST_BYTES >> 20} MiB, which no tracker list "
                "is; check the path, or split the list"
            )
        text = data.decode("utf-8", errors="replace")
        found = imports.read_list(text, Path(name).name, args.format, args.category)
        if not found:  # (nothing is written: a wrong file is likelier than an empty list)
            raise UsageError(
                f"{name}: no tracker domains in it; catalog import reads hosts files "
                "(0.0.0.0 ads.example.com, or one domain a line), Disconnect's services.json "
                "and ||domain^ filter rules (--format to say which)"
            )
        layer = imports.merged(layer, found)
        print(
            f"consentproxy: {sum(len(e.domains) for e in found)} domains of "
            f"{len(found)} trackers from {name}"
        )
    written = (
        f"{LAYER_HEADER}\n# Imported with `consentproxy catalog import`; "
        "use only lists you are licensed to use.\n" + format_layer(layer)
    ).encode()
    if len(written) > knowledge.MAX_LAYER_BYTES:  # (serve would refuse it: nothing written)
        raise UsageError(
            f"{target} would be more than {knowledge.MAX_LAYER_BYTES >> 20} MiB, which a config "
            "refuses; nothing written: import fewer lists into it, or split them over two "
            "files (tracker_lists takes several)"
        )
    with _writing("--into"):
        target.write_bytes(written)
    print(
        f"consentproxy: {target} holds {sum(len(e.domains) for e in layer)} domains; "
        f"name it in your config: tracker_lists: [{target}]"
    )
    return 0


SUGGEST_READS = "suggest reads a scan's report.json, serve --observe's log, or one host a line"
# A report keeps 500 requests a page, an observe log one line a name: more is a whole serve
# log, or the wrong file (/dev/zero was read until memory ran out).
MAX_SUGGEST_BYTES = 64 << 20


def _report_hosts(report: dict[str, Any], name: str) -> tuple[str, list[str]]:
    """The site and third-party hosts of a scan's report.json; one of another shape (edited
    by hand, another tool's JSON) is refused with its name, never a traceback."""
    try:
        site = site_of(urlsplit(report.get("url", "")).netloc)
        hosts = [
            r["host"]
            for s in report["states"]
            for p in s.get("pages", [])
            for r in p.get("requests", [])
        ]
        if all(isinstance(h, str) for h in hosts):
            return site, hosts
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    raise UsageError(
        f"{name}: not a scan report (its url, states, pages or requests are not as a scan "
        f"writes them); {SUGGEST_READS}"
    )


def cmd_suggest(args: argparse.Namespace) -> int:
    """Config lines for the third-party hosts a scan report or an observe log saw."""
    policy = Policy(load_config(args.config))
    hosts: list[str] = []
    site = ""
    for name in args.files:
        try:
            with open(name, "rb") as file:  # (a pipe too: suggest <(grep observe: serve.log))
                data = file.read(MAX_SUGGEST_BYTES + 1)
        except OSError as e:
            raise UsageError(f"cannot read {name} ({e.strerror})") from None
        if len(data) > MAX_SUGGEST_BYTES:
            raise UsageError(
                f"{name}: more than {MAX_SUGGEST_BYTES >> 20} MiB, which no scan report or "
                "observe log is; check the path, or give suggest a serve log's observe lines "
                "only: grep 'observe: ' serve.log > observe.log"
            )
        text = data.decode("utf-8-sig", errors="replace")
        if text.lstrip().startswith("{"):  # a scan's report.json
            try:
                report = json.loads(text)
            except json.JSONDecodeError as e:
                raise UsageError(
                    f"{name}:{e.lineno}: not a scan report ({e.msg}); {SUGGEST_READS}"
                ) from None
            if not isinstance(report, dict) or "states" not in report:
                raise UsageError(f"{name}: not a scan report (no states in it); {SUGGEST_READS}")
            site, found = _report_hosts(report, name)
            hosts += found
        elif "observe: " in text:  # serve --observe's log
            hosts += re.findall(r"third-party host '([^']+)'", text)
        else:  # one host a line ('#' comments, blank lines aside)
            listed = [
                (n, line.strip())
                for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
            for n, line in listed:
                if not HOST_RE.fullmatch(line.lower()):
                    raise UsageError(f"{name}:{n}: {line[:60]!r} is not a host; {SUGGEST_READS}")
            if not listed:
                raise UsageError(f"{name} lists no host; {SUGGEST_READS}")
            hosts += [line for _, line in listed]
    print("\n".join(suggest(policy, hosts, site)))
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from consentproxy.scan import Scanner, ScanOptions, default_states, remove_earlier_screenshots

    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the report says it all
    config = load_config(args.config)
    states = (
        tuple(s.strip() for s in args.states.split(";") if s.strip())
        if args.states
        else default_states(config, args.direct)
    )
    paths = tuple(p.strip() for p in (args.paths or "").split(",") if p.strip())
    if args.paths and not paths:  # (a list of unset variables: not the URL's path alone)
        raise UsageError(f"scan: --paths {args.paths!r} names no path; e.g. --paths /,/shop")
    scanner = Scanner(
        ScanOptions(
            url=args.url,
            config=config,
            states=states,
            out=Path(args.out),
            direct=args.direct,
            online=args.online,
            paths=paths,
            crawl=args.crawl,
            wait_ms=int(args.wait * 1000),
            chromium=args.chromium,
            resolve=args.resolve or "",
        )
    )
    with _writing("--out"):  # (now, not once the scan is done: its report would be lost)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        remove_earlier_screenshots(Path(args.out))
        for name in ("report.json", "report.html"):  # (an earlier scan's goes: never as ours)
            (Path(args.out) / name).unlink(missing_ok=True)
            (Path(args.out) / name).touch()
            (Path(args.out) / name).unlink()
    report = asyncio.run(scanner.run())
    kinds = set()
    for state in report["states"]:
        print(
            f"  {printable(state['state']):<24} {len(state['pages'])} page(s), "
            f"{state['third_party_requests']} third-party request(s), "
            f"{state['violations']} violation(s)"
        )
    for state in report["states"]:
        for page in state["pages"]:
            for v in page["violations"]:
                kinds.add(v["kind"])
                said = f"{state['state']} {page['path']}: {v['kind']}: {v['detail']}"
                print(f"  {printable(said)}")
    print(
        f"consentproxy scan: {report['violations']} violation(s); "
        f"report in {Path(args.out) / 'report.html'}"
    )
    # 1: the site broke a rule; 3: it broke none seen, but a page could not be scanned
    return 1 if kinds - {"page-failed"} else 3 if kinds else 0


def _records(args: argparse.Namespace) -> tuple[RecordStore, int]:
    config = load_config(args.config)
    if not config.records.target:
        raise UsageError(
            f"{args.config} keeps no records; add records: {{path: FILE}} or "
            "records: {dsn: postgresql://...}"
        )
    store = open_store(config.records.target)
    if (
        isinstance(store, SqliteStore)
        and store.path != ":memory:"
        and not Path(store.path).exists()
    ):
        raise UsageError(  # (opening would create it: these commands only read or delete)
            f"no records store at {store.path} (named in {args.config}): serve has not "
            "written one yet, or the path is wrong"
        )
    return store, config.records.retention_days


async def _with_store[T](
    args: argparse.Namespace,
    work: Callable[[RecordStore, int], Awaitable[T]],
    *,
    read_only: bool = True,
) -> T:
    """work(store, retention_days) on the config's store, opened read-only unless told."""
    store, days = _records(args)
    try:
        await store.open(read_only=read_only)
    except UserError:  # (another application's database, a store not set up yet)
        raise
    except Exception as e:  # noqa: BLE001 - any driver error: the operator's to fix
        raise UsageError(
            f"cannot open the records store {store.name} (named in {args.config}): {e}; "
            f"{_what_to_do(store, e, read_only)}"
        ) from None
    try:
        return await work(store, days)
    except (UserError, BrokenPipeError):  # (the reader of an export left: main's)
        raise
    except Exception as e:  # (any driver error: the operator's to fix)
        if isinstance(e, OSError) and not isinstance(e, ConnectionError | TimeoutError):
            raise  # (stdout, not the store)
        raise UsageError(
            f"the records store {store.name} (named in {args.config}) failed: {e}; "
            f"{_what_to_do(store, e, read_only)}"
        ) from None
    finally:
        await store.close()


def _what_to_do(store: RecordStore, error: Exception, read_only: bool) -> str:
    """The operator's next step for a store that failed to open or answer."""
    if isinstance(store, PostgresStore):
        return "check the server is up and the dsn is right"
    kind = str(getattr(error, "sqlite_errorname", ""))
    if kind.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return (
            "another process holds its write lock (serve writing a batch, or another "
            "records command); try again later"
        )
    if kind.startswith("SQLITE_CORRUPT"):
        path = shlex.quote(store.name)
        return (
            f"the file is damaged: restore it from a backup, or save what is left with "
            f"`sqlite3 {path} .recover | sqlite3 NEW` and name NEW in records.path"
        )
    return "check the file is a records store this user can read" + (
        "" if read_only else ", in a directory it can write"
    )


def _left_out(store: RecordStore) -> int:
    """The exit status of a command reading records: 1 when rows that are no records were
    left out of its answer (each logged, with its id)."""
    if not store.left_out:
        return 0
    print(
        f"consentproxy: {store.name}: {store.left_out} of its rows left out, being no records "
        "(each named above, with what to do)",
        file=sys.stderr,
    )
    return 1


def _record_printer(fmt: str) -> Callable[[ConsentRecord], None]:
    """Prints one record at a time (an export streams them), after CSV's header."""
    if fmt != "csv":
        return lambda r: print(json.dumps(asdict(r), ensure_ascii=False))
    out = csv.writer(sys.stdout)
    out.writerow(COLUMNS)
    return lambda r: out.writerow(
        [" ".join(v) if isinstance(v, tuple) else v for v in asdict(r).values()]
    )


def _since(args: argparse.Namespace) -> int:
    if not args.since:
        return 0
    try:
        return int(datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise UsageError(f"--since {args.since!r}: use a date like 2026-05-01") from None


def cmd_records_export(args: argparse.Namespace) -> int:
    since = _since(args)

    async def work(store: RecordStore, _: int) -> int:
        print_record = _record_printer(args.format)
        async with aclosing(store.since(since)) as records:
            async for r in records:
                print_record(r)
        return _left_out(store)

    return asyncio.run(_with_store(args, work))


def cmd_records_stats(args: argparse.Namespace) -> int:
    """The operator's numbers per day and category, from the store."""
    since = _since(args)
    categories = [c.name for c in load_config(args.config).categories if not c.required]

    async def work(store: RecordStore, _: int) -> tuple[Stats, int]:
        return await store.stats(since), _left_out(store)

    stats, status = asyncio.run(_with_store(args, work))
    days = summarise(stats, categories)
    if args.format == "json":
        print(json.dumps(days, indent=1))
        return status
    counts = ("impressions", "decisions", *OUTCOMES, "ignored")
    head = [*counts, *(f"{c} opt-in" for c in categories)]
    rows = [
        [
            d["day"],
            *(str(d[k]) for k in counts),
            *(
                "-" if d["categories"][c]["rate"] is None else f"{d['categories'][c]['rate']:.1%}"
                for c in categories
            ),
        ]
        for d in days
    ]
    if args.format == "csv":
        out = csv.writer(sys.stdout)
        out.writerows([["day", *head], *rows])
        return status
    widths = [max(len(x), 10) for x in ["day", *head]]
    for line in (["day", *head], *rows):
        print(
            "  ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    print(
        "ignored: page views that showed the first layer and got no answer from it "
        "(impressions minus first-layer answers); opt-in: the share of decisions granting "
        "the category",
        file=sys.stderr,
    )
    return status


def cmd_records_purge(args: argparse.Namespace) -> int:
    removed = asyncio.run(
        _with_store(
            args, lambda store, days: store.purge(int(time.time()) - days * 86400), read_only=False
        )
    )
    print(f"purged {removed} records older than the retention")
    return 0


def _consent_id(args: argparse.Namespace) -> str:
    """The consent id `records show` and `records erase` are given, as ID or --id=ID."""
    if (args.consent_id is None) == (args.id is None):
        raise UsageError(
            f"records {args.records_command}: give one consent id, as ID or --id=ID (an id "
            "starting with '-': --id=-ID, or -- -ID after the options)"
        )
    cid = str(args.consent_id if args.id is None else args.id)
    if not cid.isascii():  # (none is stored; the driver raised on bytes not text)
        raise UsageError(
            f"{cid!r} is no consent id: one is ASCII letters, digits, '-' and '_' "
            "(the consent cookie's first part)"
        )
    return cid


def cmd_records_erase(args: argparse.Namespace) -> int:
    """An erasure asked of the operator (art. 17: by e-mail, the id read from `me`)."""
    cid = _consent_id(args)
    erased = asyncio.run(_with_store(args, lambda store, _: store.erase(cid), read_only=False))
    if not erased:  # (as show says it: a script reads the status, an operator stderr)
        print(f"no records for {cid}: nothing erased", file=sys.stderr)
        return 1
    print(f"erased {erased} records of {cid}")
    return 0


def cmd_records_show(args: argparse.Namespace) -> int:
    args.consent_id = _consent_id(args)

    async def work(store: RecordStore, _: int) -> tuple[list[ConsentRecord], dict[str, str], int]:
        records = await store.by_id(args.consent_id)
        versions = {}
        for digest in {r.shown_digest for r in records if r.shown_digest}:
            content = await store.shown(digest)
            if content is not None:
                versions[digest] = content
        return records, versions, _left_out(store)

    records, versions, status = asyncio.run(_with_store(args, work))
    if not records:
        print(f"no records for {args.consent_id}", file=sys.stderr)
        return 1
    print_record = _record_printer("json")
    for r in records:
        print_record(r)
    if args.html:
        out = Path(args.html)
        with _writing("--html"):
            out.mkdir(parents=True, exist_ok=True)
        languages: dict[str, set[str]] = {}
        for r in records:
            languages.setdefault(r.shown_digest, set()).add(r.language)
        if "" in languages:
            print(
                "what was shown is not known for some records (older than the archive, "
                "an import, or a choice naming no current version of the banner)",
                file=sys.stderr,
            )
        for digest, langs in sorted(languages.items()):
            problem = _unrebuildable(digest, versions.get(digest)) if digest else ""
            if problem:
                # (once, whatever the languages; a version asked for and not rebuilt is a
                # failure, missing or altered)
                print(problem, file=sys.stderr)
                status = 1
                continue
            for lang in sorted(langs) if digest else ():
                page = out / f"shown-{digest[:12]}-{lang or 'default'}.html"
                with _writing("--html"):
                    page.write_bytes(shown_page(versions[digest], digest, lang))
                print(
                    f"the banner as shown ({lang or 'default language'}): {page}", file=sys.stderr
                )
    return status


def _unrebuildable(digest: str, content: str | None) -> str:
    """Why the archived version `digest` cannot be rebuilt, or "". The digest shows a text
    changed or corrupted since it was archived; one rewritten along with its digest (in the
    version and the records naming it) passes: it is no evidence against who can write the
    store."""
    if content is None:
        return f"version {digest[:12]} of what was shown is not in the archive"
    if digest_of(content) != digest:
        return (
            f"version {digest[:12]} of what was shown was changed or corrupted in the archive "
            "(its text no longer has that digest): not rebuilt; restore it from a backup"
        )
    return ""


def _in_range(kind: type[float], low: float, high: float, expected: str) -> Any:
    """An argparse type: a number from low to high, else a usage error naming the option
    and `expected` (a float's nan or inf, a negative count, never reach the command)."""

    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = math.nan
        if not low <= number <= high:  # (nan compares false)
            raise argparse.ArgumentTypeError(f"{value!r}: give {expected}")
        return number

    return parse


def _given(expected: str) -> Any:
    """An argparse type: any text but an empty one, which the command took for the option
    not given (--lang "" for the first language, --since "" for every record)."""

    def parse(value: str) -> str:
        if not value:
            raise argparse.ArgumentTypeError(f"an empty value; give {expected}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """Usage errors with each URL's password hidden: they repeat a value given (scan's
    `--crawl http://u:pass@staging/`, a second URL unrecognised) to the terminal and its log.
    Its subcommands' parsers are of this class too, each given its part of the arguments."""

    passwords: tuple[str, ...] = ()

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        given = list(sys.argv[1:] if args is None else args)
        self.passwords = passwords_in(given)
        return super().parse_known_args(given, namespace)

    def error(self, message: str) -> NoReturn:
        super().error(without_passwords(message, self.passwords))


def build_parser() -> _Parser:
    p = _Parser(
        prog="consentproxy",
        description="Cookie-consent enforcing "
        "reverse proxy for sites whose code you cannot change.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the proxy in front of a site")
    s.add_argument("--config", required=True, help="YAML config file")
    s.add_argument("--upstream", help="URL of the site to protect (overrides the file)")
    s.add_argument("--listen", help="HOST:PORT to listen on (overrides the file)")
    s.add_argument(
        "--state",
        metavar="STATE",
        help="force the consent state for every visitor (staging/QA): none, all, "
        "reject, CAT1,CAT2 or service:NAME,...; default: follow the cookie",
    )
    s.add_argument(
        "--observe",
        action="store_true",
        help="also log each cookie and "
        "third-party host no service names (once per name; counts at exit)",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve with N processes sharing the port (SO_REUSEPORT); default 1",
    )
    s.add_argument(
        "--share-port",
        action="store_true",
        help="share the port with a serve already listening there with --share-port "
        "or --workers (a restart without a gap: start the new one, then stop the old)",
    )
    s.set_defaults(func=cmd_serve)
    d = sub.add_parser("demo", help="run the bundled legacy demo site behind the proxy")
    d.add_argument(
        "--port",
        type=_in_range(int, 0, 65535, "a port from 0 (any free one) to 65535"),
        default=8000,
        help="proxy port (default 8000)",
    )
    d.add_argument(
        "--origin",
        type=_given("HOST:PORT"),
        metavar="HOST:PORT",
        help="serve only the legacy site, unprotected, on HOST:PORT",
    )
    d.set_defaults(func=cmd_demo)
    hc = sub.add_parser(
        "healthcheck",
        help="exit 0 when the serve of this config answers {prefix}healthz (a container's "
        "HEALTHCHECK), else 1",
    )
    hc.add_argument("--config", required=True, help="YAML config file (its listen and prefix)")
    hc.add_argument(
        "--timeout",
        type=_in_range(float, sys.float_info.min, 3600, "seconds, more than 0 and at most 3600"),
        default=2.0,
        help="seconds to wait (default 2)",
    )
    hc.set_defaults(func=cmd_healthcheck)
    c = sub.add_parser("check-config", help="validate a config file and explain it")
    c.add_argument("file", nargs="?", help="YAML config file (or --config FILE, as elsewhere)")
    c.add_argument("--config", dest="config_file", help=argparse.SUPPRESS)
    c.set_defaults(func=cmd_check_config)
    dc = sub.add_parser(
        "declaration",
        help="the cookie declaration (categories, services, cookies) for a policy page, on stdout",
    )
    dc.add_argument("--config", required=True, help="YAML config file")
    dc.add_argument("--format", choices=("markdown", "html", "json"), default="markdown")
    dc.add_argument(
        "--lang",
        type=_given("one of the config's languages"),
        help="one of the config's languages (default: its first)",
    )
    dc.set_defaults(func=cmd_declaration)
    cat = sub.add_parser("catalog", help="the built-in services and the Open Cookie Database")
    csub = cat.add_subparsers(dest="catalog_command", required=True)
    csub.add_parser("list", help="list the built-in services").set_defaults(func=cmd_catalog_list)
    show = csub.add_parser("show", help="everything about one built-in service")
    show.add_argument("name")
    show.set_defaults(func=cmd_catalog_show)
    cl = csub.add_parser("classify", help="which service or category a cookie or host is")
    cl.add_argument("what", metavar="COOKIE_OR_HOST", type=_given("a cookie name, a host or a URL"))
    cl.add_argument(
        "--config", help="classify as this config does: its category and the rule that decided"
    )
    cl.set_defaults(func=cmd_catalog_classify)
    up = csub.add_parser(
        "update", help="refresh the Open Cookie Database snapshot from its upstream CSV"
    )
    up.add_argument(
        "file",
        type=_given("the CSV's path"),
        help="open-cookie-database.csv from jkwakman/Open-Cookie-Database",
    )
    up.add_argument(  # (no default: never the installed package's file unasked)
        "--into",
        required=True,
        type=_given("the path to write"),
        help=f"where to write; the snapshot serve reads is {DATABASE_FILE} (in a checkout: "
        "src/consentproxy/catalog/open-cookie-database.csv)",
    )
    up.set_defaults(func=cmd_catalog_update)
    im = csub.add_parser(
        "import",
        help="read tracker lists you are licensed to use (hosts "
        "files, Disconnect's services.json, ||domain^ rules) into a layer file "
        "a config names under tracker_lists",
    )
    im.add_argument("files", nargs="+", metavar="FILE", type=_given("a tracker list's path"))
    im.add_argument(
        "--into",
        default="tracker-list.tsv",
        type=_given("the layer file's path"),
        help="the layer file to write or add to (default: tracker-list.tsv)",
    )
    im.add_argument("--format", choices=imports.FORMATS, default="auto")
    im.add_argument(
        "--category",
        choices=sorted(CATALOG_CATEGORIES),
        default="advertising",
        help="for lists that name none (hosts, rules); default: advertising",
    )
    im.set_defaults(func=cmd_catalog_import)
    sg = sub.add_parser(
        "suggest",
        help="print the config lines that would cover the "
        "third-party hosts a scan report.json or a serve --observe log saw",
    )
    sg.add_argument(
        "files",
        nargs="+",
        metavar="REPORT_OR_LOG",
        type=_given("a report.json, an observe log or a list of hosts"),
    )
    sg.add_argument("--config", required=True, help="the YAML config to complete")
    sg.set_defaults(func=cmd_suggest)
    sc = sub.add_parser(
        "scan",
        help="visit a site in each consent state with Chromium and "
        "report what got through (exit 1 on violations, 3 when a page could not be scanned)",
    )
    sc.add_argument("url", help="the site to scan, e.g. http://127.0.0.1:8080/")
    sc.add_argument(
        "--config",
        required=True,
        help="YAML config: categories and services (and the proxy's settings unless --direct)",
    )
    sc.add_argument(
        "--states",
        type=_given("states separated by ';', such as none;all"),
        help="states to scan, separated by ';' (a state may hold "
        "commas: analytics,social); default: none;reject;all and each optional "
        "category alone",
    )
    sc.add_argument(
        "--direct",
        action="store_true",
        help="scan the site as it is, without the proxy (the 'before' report): "
        "state none alone, as nothing applies another to it",
    )
    sc.add_argument(
        "--paths",
        type=_given("paths separated by ',', such as /,/shop"),
        help="comma-separated paths to visit (default: the URL's); "
        "a comma in a path is written %%2C",
    )
    sc.add_argument(
        "--crawl",
        type=_in_range(int, 0, sys.maxsize, "0 or more links"),
        default=0,
        metavar="N",
        help="also visit up to N same-site links of the first page",
    )
    sc.add_argument(
        "--wait",
        type=_in_range(float, 0, 600, "seconds from 0 to 600"),
        default=3.0,
        metavar="SECONDS",
        help="how long each page is watched once its network has gone quiet, for trackers "
        "a timer starts late (default: 3)",
    )
    sc.add_argument(
        "--online",
        action="store_true",
        help="let third-party requests reach "
        "the internet (default: answered by the scanner and counted, never sent)",
    )
    sc.add_argument(
        "--out",
        default="scan-report",
        help="directory for report.json, report.html and screenshots (default: scan-report)",
    )
    sc.add_argument(
        "--resolve",
        type=_given("ADDRESS[:PORT], such as 127.0.0.1:8080"),
        metavar="ADDRESS[:PORT]",
        help="visit the URL's host name at this address, e.g. a local copy of the site: "
        "scan http://www.example.com/ --resolve 127.0.0.1:8080 (its pages keep their name: "
        "its own hosts, Domain cookies and absolute links work as in production)",
    )
    sc.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium binary")
    sc.set_defaults(func=cmd_scan)
    rec = sub.add_parser("records", help="the proof-of-consent records a config keeps")
    rsub = rec.add_subparsers(dest="records_command", required=True)
    ex = rsub.add_parser("export", help="records as JSON lines or CSV on stdout")
    ex.add_argument(
        "--since", type=_given("a date like 2026-05-01"), help="from this date (YYYY-MM-DD, UTC) on"
    )
    ex.add_argument("--format", choices=("json", "csv"), default="json")
    ex.set_defaults(func=cmd_records_export)
    st = rsub.add_parser(
        "stats",
        help="per day: banner impressions, first-layer answers "
        "(accept all, reject all, customise, close, ignored) and each "
        "category's opt-in rate",
    )
    st.add_argument(
        "--since", type=_given("a date like 2026-05-01"), help="from this date (YYYY-MM-DD, UTC) on"
    )
    st.add_argument("--format", choices=("text", "json", "csv"), default="text")
    st.set_defaults(func=cmd_records_stats)
    pu = rsub.add_parser(
        "purge",
        help="delete records older than records.retention_days (the server also does it daily)",
    )
    pu.set_defaults(func=cmd_records_purge)
    sh = rsub.add_parser(
        "show",
        help="the records of one consent id (the cookie's)",
        description="The records of one consent id. One starting with '-' (an earlier "
        "version minted one in 64 so) is given as --id=-ID, or last, after --: "
        "records show --config FILE -- -ID",
    )
    sh.add_argument(
        "--html",
        metavar="DIR",
        type=_given("a directory"),
        help="also write the banner each decision was "
        "made on, rebuilt from the archived version, as DIR/shown-VERSION-LANG.html",
    )
    sh.set_defaults(func=cmd_records_show)
    er = rsub.add_parser(
        "erase",
        help="erase the records of one consent id (a visitor's request, made otherwise than "
        "through the site's own button)",
        description="Erase the records of one consent id (the `consent_id` the visitor "
        "reads at {prefix}me). One starting with '-' is given as --id=-ID.",
    )
    er.set_defaults(func=cmd_records_erase)
    for one in (sh, er):
        one.add_argument(
            "consent_id",
            nargs="?",
            type=_given("the consent id"),
            help="the consent id (the cookie's first part)",
        )
        one.add_argument(
            "--id",
            metavar="ID",
            type=_given("the consent id"),
            help="the consent id, as --id=ID: also one starting with '-'",
        )
    for parser in (ex, st, pu, sh, er):
        parser.add_argument("--config", required=True, help="YAML config with records:")
    return p


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command's parser the arguments chose: an argument it does not take is said
    with its usage and options (the top parser's named no option of `records export`)."""
    while chooser := next(
        (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None
    ):
        parser = chooser.choices[getattr(args, chooser.dest)]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # (as parse_args; an id starting with '-' reads as an option: say how)
        dash_id = (
            getattr(args, "func", None) in (cmd_records_show, cmd_records_erase)
            and args.consent_id is None
        )
        chosen = _chosen(parser, args)
        options = [o for a in chosen._actions for o in a.option_strings]
        chosen.error(
            f"unrecognized arguments: {' '.join(extra)}"
            + did_you_mean(extra[0].partition("=")[0], options)
            + (
                "; a consent id starting with '-' is given as --id=-ID, or last, after --: "
                f"records {args.records_command} --config FILE -- -ID"
                if dash_id
                else f"; {chosen.prog} --help lists what it takes"
            )
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except UserError as e:  # (scan's name the URL given, password and all)
        print(f"consentproxy: {without_passwords(str(e), parser.passwords)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (`| head`): the process's entry ends by SIGPIPE
        raise
    except OSError as e:  # e.g. a file it cannot write (a taken port is a UserError)
        print(f"consentproxy: {e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
