"""GX Data Docs for one run, built from counts only: a static site nobody can read a value from.

GX renders Data Docs from validation results, and a GX result normally quotes failing values
(``partial_unexpected_list``, ``unexpected_list``, ``partial_unexpected_counts``, index queries).
Custody never keeps those (the runner asks GX for ``exclude_unexpected_values``), so this module
rebuilds, per table, a GX ``ExpectationSuiteValidationResult`` from the run's ``validation.json``
document: the expectation type and column of each check, and its counts (rows evaluated, missing,
unexpected). Each result dict is passed through :func:`value_free_result`, a whitelist of count keys,
so even a result that arrived with values would lose them. The site then shows, per table, which
expectations passed, the unexpected counts and percentages, and the suite (expectation types and
their arguments: column names, regex patterns, bounds from ``sources.yaml``), never a cell.

The site loads nothing from another origin and runs no script. GX's pages pull jQuery, Bootstrap,
Vega and fonts from public CDNs and logos from GX's web assets, and its index fills its tables by
script (empty offline). So after GX renders, every page is rewritten (:func:`self_contained`):
scripts, frames, forms, external stylesheets and images and inline event handlers are removed, a
local stylesheet is linked, and ``index.html`` is replaced by a static page rendered from the
validation document (per table: status, counts, links to the validation and suite pages). The
plugin serves it with a ``Content-Security-Policy`` that allows no script at all.

Usage (the pipeline builds the site next to the run report)::

    index = build_data_docs(validation_doc, settings.report_dir / source / run_key / "datadocs",
                            rules={t: rules_of_t})       # rules: optional, adds regex/bounds kwargs
    # -> .../datadocs/index.html (static HTML, CSS and fonts; no script, nothing from other origins)

GX is imported on the first call (several seconds). A fresh ephemeral GX context is used per call
(nothing written outside ``out_dir``; analytics off).

GX builds a new Jinja environment for every page it renders, so its templates were parsed and
compiled again for every site: most of a site's build (about 0.3 s of 0.35 s on the benchmark
machine). Every such environment here shares one in-memory bytecode cache
(:func:`cache_gx_templates`; Jinja's own ``BytecodeCache`` mechanism, keyed by template and
source checksum), so a process compiles each template once; :func:`warm_templates` compiles
them ahead, which a preloading worker does once for all the tasks it forks.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from custody.naming import column_key
from custody.validation.rules import TableRules

__all__ = ["COUNT_KEYS", "build_data_docs", "cache_gx_templates", "self_contained", "value_free_result",
           "warm_templates"]

TEMPLATES = Path(__file__).parent / "templates"

#: The only keys of a GX expectation result that reach Data Docs: counts and percentages.
COUNT_KEYS = frozenset(
    {
        "element_count",
        "missing_count",
        "missing_percent",
        "unexpected_count",
        "unexpected_percent",
        "unexpected_percent_total",
        "unexpected_percent_nonmissing",
    }
)


def value_free_result(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """A GX expectation ``result`` dict reduced to :data:`COUNT_KEYS` (numbers only).

    Drops ``partial_unexpected_list``, ``partial_unexpected_counts``, ``partial_unexpected_index_list``,
    ``unexpected_list``, ``unexpected_index_list``, ``unexpected_index_query``, ``unexpected_rows``,
    ``observed_value``, ``details`` and anything else that could quote a value.
    """
    out: dict[str, Any] = {}
    for key, value in (result or {}).items():
        if key in COUNT_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
    return out


def _counts(res: Mapping[str, Any]) -> dict[str, Any]:
    n = int(res.get("evaluated") or 0)
    missing = int(res.get("missing") or 0)
    bad = int(res.get("unexpected") or 0)
    nonmissing = n - missing
    return value_free_result(
        {
            "element_count": n,
            "missing_count": missing,
            "missing_percent": 100.0 * missing / n if n else 0.0,
            "unexpected_count": bad,
            "unexpected_percent": 100.0 * bad / nonmissing if nonmissing else 0.0,
            "unexpected_percent_total": 100.0 * bad / n if n else 0.0,
            "unexpected_percent_nonmissing": 100.0 * bad / nonmissing if nonmissing else 0.0,
        }
    )


def _kwargs(res: Mapping[str, Any], rules: TableRules | None) -> dict[str, Any] | None:
    """GX kwargs of one check, from the result's ``args`` (or ``rules``); None if they are unknown."""
    column = str(res["column"])
    check = str(res.get("check"))
    if str(res["expectation"]) == "expect_compound_columns_to_be_unique":
        return {"column_list": column.split("+"), "ignore_row_if": "any_value_is_missing"}
    args = dict(res.get("args") or {})
    if not args and rules is not None:
        rule = next((c for c in rules.checks if c.key == column_key(column) and c.check == check), None)
        args = dict(rule.args) if rule is not None else {}
    kwargs: dict[str, Any] = {"column": column}
    if check == "regex":
        if not args.get("pattern"):
            return None
        kwargs["regex"] = args["pattern"]
    elif check == "between":
        if args.get("min") is None and args.get("max") is None:
            return None
        kwargs.update({"min_value": args.get("min"), "max_value": args.get("max")})
    elif check == "cn_mobile":
        kwargs["strict"] = bool(args.get("strict", False))
    return kwargs


_TEMPLATE_CACHE: Any = None


def cache_gx_templates() -> Any:
    """Give every GX page view's Jinja environment the process's in-memory bytecode cache (module
    docstring); idempotent. GX offers no setting for it: its view class's constructor is wrapped
    to set the environment's ``bytecode_cache`` (Jinja reads it when a template is loaded), and a
    view without a Jinja environment is left as it is. Returns the cache."""
    global _TEMPLATE_CACHE
    if _TEMPLATE_CACHE is not None:
        return _TEMPLATE_CACHE
    import jinja2
    from great_expectations.render.view import view as gx_view

    class TemplateCache(jinja2.BytecodeCache):
        """Compiled templates (GX's own, no data) by Jinja's key; a dict's get and set are atomic."""

        def __init__(self) -> None:
            self.compiled: dict[str, bytes] = {}

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            code = self.compiled.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            self.compiled[bucket.key] = bucket.bytecode_to_string()

    cache = TemplateCache()
    original = gx_view.DefaultJinjaView.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if isinstance(getattr(self, "env", None), jinja2.Environment):
            self.env.bytecode_cache = cache

    # GX builds views from configuration by reading the constructor's parameters
    # (inspect.getfullargspec, which reads __signature__): the wrapper shows the original's, so
    # custom styles and views directories still reach the view.
    functools.update_wrapper(init, original)
    init.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]
    gx_view.DefaultJinjaView.__init__ = init
    _TEMPLATE_CACHE = cache
    return cache


def warm_templates() -> int:
    """Compile every template of GX's page views into the cache (:func:`cache_gx_templates`), as
    a preloading worker does before it forks tasks; returns how many compiled. A template that
    does not compile is skipped (rendering it would raise in the task, as it did before)."""
    import jinja2
    from great_expectations.render.view.view import DefaultJinjaPageView

    cache_gx_templates()
    env = DefaultJinjaPageView().env
    compiled = 0
    for name in env.list_templates():
        try:
            env.get_template(name)
        except jinja2.TemplateError:
            continue
        compiled += 1
    return compiled


def build_data_docs(
    validation_doc: Mapping[str, Any],
    out_dir: str | Path,
    *,
    rules: Mapping[str, TableRules] | None = None,
    run_time: datetime | None = None,
) -> Path:
    """Build the run's static GX Data Docs site into ``out_dir``; return the path of ``index.html``.

    ``validation_doc``: the ``validation.json`` document of one run (``source``, ``run_key`` and
    ``tables`` with ``results`` as written by ``stage_validate``: expectation, column, check, evaluated,
    missing, unexpected, success, args). ``rules``: optional ``{table: TableRules}``, used for regex
    patterns and ``between`` bounds when a result has no ``args`` (a check whose arguments are found
    nowhere is left out of the site and counted in the result's meta). ``run_time``: the run's time
    shown in the site (default now, UTC). ``out_dir`` is replaced as a whole (built beside it first, so
    a failed build leaves the previous site). Raises ``KeyError`` for a document without ``tables`` and
    GX errors if rendering fails; no message carries a value (there are none to carry).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from custody.validation._gx import gx
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from custody.validation import expectations as _registered  # noqa: F401 - registers custom types

    cache_gx_templates()
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)

    source = str(validation_doc.get("source") or "source")
    run_key = str(validation_doc.get("run_key") or "run")
    run_id = RunIdentifier(run_name=run_key, run_time=run_time or datetime.now(UTC))
    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        site_name="custody",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(staging)},
        },
    )
    for table in validation_doc["tables"]:
        name = str(table["table"])
        table_rules = (rules or {}).get(name)
        suite = gx.ExpectationSuite(name=f"{source}.{name}")
        results = []
        omitted = 0
        for res in table.get("results") or []:
            kwargs = _kwargs(res, table_rules)
            if kwargs is None:  # a document without the rule's arguments (pattern, bounds)
                omitted += 1
                continue
            config = ExpectationConfiguration(
                type=str(res["expectation"]),
                kwargs=kwargs,
                meta={"custody_check": str(res.get("check")), "origin": str(res.get("origin", "config"))},
            )
            suite.add_expectation_configuration(config)
            results.append(
                ExpectationValidationResult(
                    success=bool(res.get("success")), expectation_config=config, result=_counts(res)
                )
            )
        context.suites.add(suite)
        passed = sum(r.success for r in results)
        validation = ExpectationSuiteValidationResult(
            success=passed == len(results),
            results=results,
            suite_name=suite.name,
            statistics={
                "evaluated_expectations": len(results),
                "successful_expectations": passed,
                "unsuccessful_expectations": len(results) - passed,
                "success_percent": 100.0 * passed / len(results) if results else 100.0,
            },
            meta={
                "run_id": run_id,
                "custody_checks_omitted": omitted,
                "great_expectations_version": gx.__version__,
                "active_batch_definition": {"datasource_name": source, "data_asset_name": name},
                "validation_time": run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ"),
            },
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=name,
        )
        context.validation_results_store.set(key, validation)
    context.build_data_docs(site_names=["custody"])
    self_contained(staging, validation_doc)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out / "index.html"


# -- a site that loads nothing from elsewhere --------------------------------------------------------
_REMOVED_TAGS = ("script", "noscript", "iframe", "frame", "object", "embed", "form", "base", "footer")
_GX_PROMOTIONS = ("ge-walkthrough-modal", "ge-cta-footer")
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?:[a-z][a-z0-9+.-]*:|//)[^)]*\)", re.I)


def _foreign(ref: str | None) -> bool:
    """True for a reference another origin (or a scheme) would serve: ``https:``, ``//host``, ``javascript:``."""
    return bool(ref) and re.match(r"\s*(?:[a-z][a-z0-9+.-]*:|//)", ref, re.I) is not None


def self_contained(site: Path, validation_doc: Mapping[str, Any]) -> None:
    """Rewrite a GX Data Docs site in place so it runs no script and loads nothing from elsewhere.

    Every ``*.html`` page loses its ``<script>``, frames, forms, ``<footer>`` (GX's newsletter),
    GX's walkthrough and call-to-action elements, ``on*`` handler attributes, ``javascript:`` links,
    and any ``<link>`` / ``<img>`` / ``<source>`` that names another origin; it gains a link to the
    local ``static/styles/custody.css``. CSS (files, ``<style>`` and ``style=``) loses ``url(...)``
    references to other origins.
    ``index.html`` is replaced by a static page from ``validation_doc`` (table, status, numbers of
    expectations, links to each table's validation and suite pages), because GX fills its index by
    script. Raises ``OSError``.
    """
    from lxml import html as lhtml

    static = site / "static" / "styles"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES / "custody.css", static / "custody.css")
    for css in site.rglob("*.css"):
        css.write_text(_CSS_URL.sub("none", css.read_text(encoding="utf-8")), encoding="utf-8")
    for page in site.rglob("*.html"):
        doc = lhtml.document_fromstring(page.read_bytes())
        for el in list(doc.iter(*_REMOVED_TAGS)):
            el.drop_tree()
        for el in list(doc.iter("link", "img", "source", "track", "audio", "video")):
            ref = el.get("href") if el.tag == "link" else el.get("src")
            if el.tag != "img" and ref is None or _foreign(ref) or _foreign(el.get("srcset")):
                el.drop_tree()
        for el in list(doc.iter()):
            if not isinstance(el.tag, str):
                continue
            if any(p in (el.get("class") or "") or p == el.get("id") for p in _GX_PROMOTIONS):
                el.drop_tree()
                continue
            for attr in [a for a in el.attrib if a.lower().startswith("on")]:
                del el.attrib[attr]
            if el.get("style"):
                el.set("style", _CSS_URL.sub("none", el.get("style")))
            if el.tag == "style" and el.text:
                el.text = _CSS_URL.sub("none", el.text)
            if (el.get("href") or "").strip().lower().startswith("javascript:"):
                del el.attrib["href"]
        head = doc.find("head")
        if head is not None:
            rel = os.path.relpath(static / "custody.css", page.parent)
            head.append(lhtml.Element("link", rel="stylesheet", href=Path(rel).as_posix()))
        page.write_bytes(lhtml.tostring(doc, doctype="<!doctype html>", encoding="utf-8"))
    (site / "index.html").write_text(_index(site, validation_doc), encoding="utf-8")


def _index(site: Path, validation_doc: Mapping[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    source = str(validation_doc.get("source") or "source")
    run_key = str(validation_doc.get("run_key") or "run")
    rows = []
    for table in validation_doc["tables"]:
        name = str(table["table"])
        results = table.get("results") or []
        ok = sum(bool(r.get("success")) for r in results)
        # GX's stores turn the suite name's dots into folders: crm.contacts -> crm/contacts.
        pages = sorted(site.glob(f"validations/{source}/{name}/**/*.html"))
        suite = site / "expectations" / source / f"{name}.html"
        rows.append({
            "table": name, "suite": f"{source}.{name}", "success": ok == len(results),
            "evaluated": len(results), "successful": ok,
            "validation": pages[-1].relative_to(site).as_posix() if pages else None,
            "expectations": suite.relative_to(site).as_posix() if suite.is_file() else None,
        })
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("datadocs_index.html.j2").render(source=source, run_key=run_key, tables=rows)
