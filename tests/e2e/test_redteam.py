"""Red-team probes in Chromium through the proxy in its default mode (`csp: report-only`, which
blocks nothing) with no consent given: markup a hostile or odd legacy page can hold that made
the browser request a tracker before any choice. Each page is first shown to load its tracker
from the origin itself (else the probe proves nothing); third-party requests are answered by
the recorder, never sent. FOUND were findings (fixed in the rewrite or the guard); BLOCKED
are a few of the many variants already stopped, kept against regressions. What the README
and docs/SECURITY.md list as not guaranteed (a navigation by `location` or a refresh,
`NamedNodeMap.setNamedItem`, CSS written with escapes by script, SVG presentation
attributes) is not probed here."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from tests.e2e.conftest import (
    FIRST_PARTY_HOST,
    jar_with,
    pages_origin,
    recorded,
    secure_chromium,
    start_proxy,
)
from tests.e2e.test_realworld import Visit, choose

pytestmark = pytest.mark.e2e

PIXEL = "https://www.facebook.com/tr?id=1"
GA = "https://www.google-analytics.com/analytics.js"
# `import "https://www.google-analytics.com/analytics.js";`, base64 (a data: module's code)
GA_MODULE_B64 = "aW1wb3J0ICJodHRwczovL3d3dy5nb29nbGUtYW5hbHl0aWNzLmNvbS9hbmFseXRpY3MuanMiOw=="
GA_HOST = "www.google-analytics.com"


def module(url: str) -> str:
    """A parser-inserted module script importing url."""
    return f"<script type=module>import '{url}';</script>"


def inserted_module(url: str) -> str:
    """A module script importing url (its host split, out of the rewrite's sight) that a
    script inserts: the guard reads it."""
    url = url.replace("google-analytics", 'google-" + "analytics')
    return (
        "<script>var s = document.createElement('script'); s.type = 'module'; "
        f"s.textContent = \"import '{url}';\"; document.head.appendChild(s);</script>"
    )


BOX = "<div id=box style='width:20px;height:20px'>box</div>"
# Built at run time, so the rewrite cannot see them in the page: the guard is on its own.
JS_URLS = (
    "var T = 'https://www.' + 'facebook.com/tr?id=1', "
    "G = 'https://www.google-' + 'analytics.com/analytics.js', "
    "box = document.getElementById('box');"
)


def script(js: str) -> str:
    return f"{BOX}<script>{JS_URLS}\ntry {{ {js} }} catch (e) {{ window.__error = String(e); }}</script>"


def style_element(js: str) -> str:
    """js run with s, an empty <style> already in the document."""
    return script("var s = document.createElement('style'); document.head.appendChild(s); " + js)


def two_faced(n: int, js: str, bad: str = "T", good: str = "'/ok.gif'") -> str:
    """js run with u, an object whose toString answers good n times where the guard is (the
    page sees window.consentproxy), then bad."""
    return script(
        "var n = 0, u = {toString: function () { "
        f"return window.consentproxy && n++ < {n} ? {good} : {bad}; }}}}; {js}"
    )


CSS_PIXEL = "'#box{background:url(' + T + ')}'"
# setHTML's options keeping an <img src> (its default sanitizer drops the <img>)
KEEP_IMG = "{sanitizer: {elements: ['img'], attributes: ['src']}}"

FOUND = {
    # --- the rewrite: parser-inserted module scripts, which no run-time hook reaches
    # (a string's escapes and data: modules hid the import of a tracker)
    "/module-import-unicode-escaped-slashes": "<script type=module>"
    "import 'https:\\u002f\\u002fwww.google-analytics.com/a.js';</script>",
    "/module-import-hex-escaped-dot": "<script type=module>"
    "import 'https://www\\x2egoogle-analytics.com/a.js';</script>",
    "/import-map-json-escaped-slashes": '<script type=importmap>{"imports": {"a": '
    '"https:\\u002f\\u002fwww.google-analytics.com/a.js"}}</script>'
    '<script type=module>import "a";</script>',
    # (a comment between import and its specifier: no loader the rewrite knew)
    "/module-import-after-a-comment": "<script type=module>"
    "import/**/'https://www.google-analytics.com/a.js';</script>",
    # (a special scheme's URL with one slash or none before its host)
    "/module-import-scheme-without-slashes": "<script type=module>"
    "import 'https:www.google-analytics.com/a.js';</script>",
    "/import-map-scheme-with-one-slash": '<script type=importmap>{"imports": {"a": '
    '"https:/www.google-analytics.com/a.js"}}</script><script type=module>import "a";</script>',
    "/module-script-data-url-src": "<script type=module "
    f"src='data:text/javascript;base64,{GA_MODULE_B64}'></script>",
    "/module-imports-data-url-module": "<script type=module>"
    f"import 'data:text/javascript;base64,{GA_MODULE_B64}';</script>",
    # --- the guard: run-time routes it did not hook
    # CSS: a URL without '//' (https:host is one to the URL parser)
    "/style-url-scheme-without-slashes": script(
        "box.style.background = 'url(https:www.facebook.com/tr)';"
    ),
    # inline style properties beyond the image ones load URLs too
    "/style-clip-path-property": script("box.style.clipPath = 'url(' + T + '#c)';"),
    "/style-webkit-box-reflect-property": script(
        "box.style.webkitBoxReflect = 'below 0 url(' + T + ')';"
    ),
    "/svg-style-fill-property": script(
        "box.innerHTML = '<svg><rect id=r width=9 height=9 /></svg>'; "
        "document.getElementById('r').style.fill = 'url(' + T + '#g)';"
    ),
    # the text of a <style> by CharacterData, insertAdjacentText, a fragment, a Range, a sibling
    "/style-text-node-data": style_element(
        f"s.textContent = ' '; s.firstChild.data = {CSS_PIXEL};"
    ),
    "/style-text-node-append-data": style_element(
        f"s.textContent = ' '; s.firstChild.appendData({CSS_PIXEL});"
    ),
    "/style-insert-adjacent-text": style_element(
        f"s.insertAdjacentText('afterbegin', {CSS_PIXEL});"
    ),
    "/style-fragment-of-text": style_element(
        f"var f = document.createDocumentFragment(); f.append({CSS_PIXEL}); s.appendChild(f);"
    ),
    "/style-range-insert-node": style_element(
        "s.textContent = ' '; var r = document.createRange(); r.selectNodeContents(s); "
        f"r.insertNode(document.createTextNode({CSS_PIXEL}));"
    ),
    "/style-text-node-after": style_element(
        f"s.textContent = ' '; s.firstChild.after({CSS_PIXEL});"
    ),
    # CSS rules and values no CSSStyleSheet hook saw
    "/keyframes-append-rule": style_element(
        "s.textContent = '@keyframes k{} #box{animation:k 1s infinite}'; "
        "s.sheet.cssRules[0].appendRule('to{background-image:url(' + T + ')}');"
    ),
    "/web-animations-keyframes": script(
        "box.animate([{backgroundImage: 'url(' + T + ')'}, {backgroundImage: 'url(' + T + ')'}],"
        " 1000);"
    ),
    "/registered-property-initial-value": script(
        "CSS.registerProperty({name: '--u', syntax: '<url>', inherits: false, "
        "initialValue: 'url(' + T + ')'}); box.style.backgroundImage = 'var(--u)';"
    ),
    # a module or import map inserted empty runs once it gets its text (and a script's
    # textContent/innerText are its own accessors in Chromium: Trusted Types)
    "/module-text-set-after-insertion": script(
        "var s = document.createElement('script'); s.type = 'module'; "
        "document.head.appendChild(s); s.text = 'import \"' + G + '\";';"
    ),
    "/module-text-content-set-after-insertion": script(
        "var s = document.createElement('script'); s.type = 'module'; "
        "document.head.appendChild(s); s.textContent = 'import \"' + G + '\";';"
    ),
    "/import-map-text-set-after-insertion": script(
        "var m = document.createElement('script'); m.type = 'importmap'; "
        "document.head.appendChild(m); m.text = JSON.stringify({imports: {trk: G}}); "
        "var s = document.createElement('script'); s.type = 'module'; "
        "s.textContent = 'import \"trk\";'; document.head.appendChild(s);"
    ),
    "/module-inserted-with-scheme-without-slashes": script(
        "var s = document.createElement('script'); s.type = 'module'; "
        "s.textContent = 'import \"https:www.google-' + 'analytics.com/a.js\";'; "
        "document.head.appendChild(s);"
    ),
    "/module-inserted-with-unicode-escapes": script(
        "var s = document.createElement('script'); s.type = 'module'; "
        "s.textContent = 'import \"https:\\\\u002f\\\\u002fwww.google-' + "
        "'analytics.com/a.js\";'; document.head.appendChild(s);"
    ),
    "/import-map-inserted-json-escaped": script(
        "var m = document.createElement('script'); m.type = 'importmap'; "
        'm.textContent = \'{"imports": {"trk": "https:\\\\/\\\\/www.google-\' + '
        "'analytics.com/a.js\"}}'; document.head.appendChild(m); "
        "var s = document.createElement('script'); s.type = 'module'; "
        "s.textContent = 'import \"trk\";'; document.head.appendChild(s);"
    ),
    # a declarative shadow root: the sweep did not look inside <template> contents
    "/set-html-unsafe-declarative-shadow-root": script(
        'box.setHTMLUnsafe("<div><template shadowrootmode=open><img src=\'" + T + "\'>'
        '</template></div>");'
    ),
    "/srcdoc-declarative-shadow-root-entities": script(
        "var f = document.createElement('iframe'); f.srcdoc = \"<template shadowrootmode=open>"
        "<img src='https:&#x2F;&#x2F;www.facebook.com/tr'></template>\"; "
        "document.body.appendChild(f);"
    ),
    # a tab in the scheme of a javascript: frame URL (the URL parser drops it)
    "/frame-javascript-url-with-tab": script(
        "var f = document.createElement('iframe'); "
        "f.src = 'java\\tscript:\"<img src=' + T + '>\"'; document.body.appendChild(f);"
    ),
    # an <object>'s about:blank window never got the guard
    "/object-about-blank-window-fetch": "<object data='about:blank' type=text/html></object>"
    + script("addEventListener('load', function () { window.frames[0].fetch(T); });"),
    # a blob: frame of HTML made by script
    "/blob-url-frame": script(
        "var f = document.createElement('iframe'); f.src = URL.createObjectURL(new Blob("
        "[\"<img src='\" + T + \"'>\"], {type: 'text/html'})); document.body.appendChild(f);"
    ),
    # document.open with three arguments is window.open (which the guard hooks)
    "/document-open-three-arguments": script("document.open(T, 'w', '');"),
    # XSLT's fragment belongs to the page's document: no sweep when it joins
    "/xslt-transform-to-fragment": script(
        "var x = new DOMParser().parseFromString('<x/>', 'text/xml'), "
        's = new DOMParser().parseFromString(\'<xsl:stylesheet version="1.0" '
        'xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:output method="html"/>'
        "<xsl:template match=\"/\"><img src=\"' + T.replace('&', '&amp;') + '\"/>"
        "</xsl:template></xsl:stylesheet>', 'text/xml'), p = new XSLTProcessor(); "
        "p.importStylesheet(s); box.appendChild(p.transformToFragment(x, document));"
    ),
    # loaders of their own: a worklet's module, a FontFace's source, the Cache API, the
    # Sanitizer API (given a configuration that keeps an <img src>)
    "/paint-worklet-add-module": script("CSS.paintWorklet.addModule(G);"),
    "/font-face-source": script("new FontFace('f', 'url(' + T + ')').load();"),
    "/cache-add": script("caches.open('c').then(function (c) { return c.add(T); });"),
    "/cache-add-all": script("caches.open('c').then(function (c) { return c.addAll([T]); });"),
    "/set-html-image": script(f"box.setHTML('<img src=\"' + T + '\">', {KEEP_IMG});"),
    "/shadow-root-set-html-image": script(
        f"box.attachShadow({{mode: 'open'}}).setHTML('<img src=\"' + T + '\">', {KEEP_IMG});"
    ),
    # --- spellings of a tracker's URL the URL parser reads (found by helper-141): a tab or
    # a newline between the slashes (it drops them anywhere), a string's \\t or \\n, a
    # backslash for a slash, userinfo before the host
    "/module-import-tab-between-slashes": module(f"https:/\t/{GA_HOST}/a.js"),
    "/module-import-escaped-tab-between-slashes": module(f"https:/\\t/{GA_HOST}/a.js"),
    "/module-import-escaped-newline-between-slashes": module(f"https:/\\n/{GA_HOST}/a.js"),
    "/module-import-tabs-around-slashes": module(f"https:\t/\t\t/\t{GA_HOST}/a.js"),
    "/module-import-template-newline-between-slashes": "<script type=module>"
    f"import(`https:/\n/{GA_HOST}/a.js`);</script>",
    "/module-import-userinfo-and-port": module(f"https://u@{GA_HOST}:443/a.js"),
    "/module-import-tab-before-one-slash": module(f"https:\t/{GA_HOST}/a.js"),
    "/import-map-escaped-tab-between-slashes": '<script type=importmap>{"imports": {"a": '
    f'"https:/\\t/{GA_HOST}/a.js"}}}}</script><script type=module>import "a";</script>',
    "/inserted-module-import-tab-between-slashes": inserted_module(f"https:/\t/{GA_HOST}/a.js"),
    "/inserted-module-import-escaped-tab": inserted_module(f"https:/\\\\t/{GA_HOST}/a.js"),
    "/inserted-module-import-escaped-newline": inserted_module(f"https:/\\\\n/{GA_HOST}/a.js"),
    "/inserted-module-import-backslashes": inserted_module(f"https:{'\\' * 8}{GA_HOST}/a.js"),
    "/inserted-import-map-escaped-tab": script(
        "var s = document.createElement('script'); s.type = 'importmap'; "
        's.textContent = \'{"imports": {"a": "https:/\\\\t/www.google-\' + '
        "'analytics.com/a.js\"}}'; document.head.appendChild(s); "
        "var m = document.createElement('script'); m.type = 'module'; "
        "m.textContent = 'import \"a\";'; document.head.appendChild(m);"
    ),
    # --- (found by helper-147) a tab or a newline inside the scheme, one slash or none after
    # it, a string's escape of one or a line continuation; a path-scoped service's path after
    # a port; fullwidth letters, one a character reference and one UTF-8 bytes, in a host
    "/module-import-tab-in-scheme": module(f"ht\ttps:{GA_HOST}/a.js"),
    "/module-import-escaped-tab-in-scheme": module(f"ht\\ttps:/{GA_HOST}/a.js"),
    "/module-import-line-continuation-in-scheme": module(f"h\\\nttps:{GA_HOST}/a.js"),
    "/module-import-path-after-a-port": module("https://www.google.com:443/pagead/conversion.js"),
    "/module-import-path-with-a-tab": module("https://www.google.com/page\tad/conversion.js"),
    "/module-import-path-escaped-letter": module("https://www.google.com/p%61gead/conversion.js"),
    "/module-import-path-dot-segment": module("https://www.google.com/./pagead/conversion.js"),
    "/module-import-path-backslashes": module("https://www.google.com\\\\pagead/conversion.js"),
    "/image-host-reference-beside-utf8": "<img src='https://www.f&#xFF41;c\uff45book.com/tr'>",
    "/inserted-module-import-line-continuation-in-scheme": inserted_module(
        f"h\\\\\\nttps:{GA_HOST}/a.js"
    ),
    "/module-import-ls-continuation-in-scheme": module(f"h\\\u2028ttps:{GA_HOST}/a.js"),
    "/inserted-module-import-ls-continuation-in-scheme": inserted_module(
        f"h\\\\\u2028ttps:{GA_HOST}/a.js"
    ),
    # --- (found by helper-245) values read twice: an object whose toString answers a URL of
    # the site's to the guard's check and the tracker's to the browser (n: the calls before it
    # turns), and an object with a url of its own that fetch does not read (no Request)
    "/two-faced-set-attribute": two_faced(1, "var i = new Image(); i.setAttribute('src', u);"),
    "/two-faced-image-src": two_faced(1, "var i = new Image(); i.src = u;"),
    "/two-faced-inner-html": two_faced(
        1, "box.innerHTML = u;", "'<img src=\"' + T + '\">'", "'<b>x</b>'"
    ),
    "/two-faced-style-css-text": two_faced(
        2, "box.style.cssText = u;", "'background:url(' + T + ')'", "'color red'"
    ),
    "/two-faced-module-text": two_faced(
        1,
        "var s = document.createElement('script'); s.type = 'module'; "
        "document.head.appendChild(s); s.textContent = u;",
        "'import \"' + G + '\";'",
        "'1;'",
    ),
    "/two-faced-fetch": two_faced(2, "fetch(u, {mode: 'no-cors'});"),
    "/two-faced-xhr": two_faced(2, "var x = new XMLHttpRequest(); x.open('GET', u); x.send();"),
    "/two-faced-beacon": two_faced(2, "navigator.sendBeacon(u);"),
    "/two-faced-font-face-source": two_faced(
        1, "new FontFace('f', u).load();", "'url(' + T + ')'", "'local(x)'"
    ),
    "/fetch-object-with-a-url": script(
        "fetch({url: '/ok.gif', toString: function () { return T; }}, {mode: 'no-cors'});"
    ),
    "/module-appended-an-object": script(
        "var s = document.createElement('script'); s.type = 'module'; "
        "document.head.appendChild(s); "
        "s.append({toString: function () { return 'import \"' + G + '\";'; }});"
    ),
    "/beacon-from-the-prototype": script("Navigator.prototype.sendBeacon.call(navigator, T);"),
    # CSS the guard's hooks did not see: the Typed OM, the style of rules other than a style
    # or keyframe rule's
    "/typed-om-style-map-set": script(
        "box.attributeStyleMap.set('background-image', 'url(' + T + ')');"
    ),
    "/typed-om-parsed-value": script(
        "box.attributeStyleMap.set('background-image', "
        "CSSStyleValue.parse('background-image', 'url(' + T + ')'));"
    ),
    # (Chromium writes an unparsed value's URL out with its ':' and '/' escaped: helper-251)
    "/typed-om-unparsed-value": script(
        "box.attributeStyleMap.set('background-image', new CSSUnparsedValue(['url(' + T + ')']));"
    ),
    "/nested-declarations-style": style_element(
        "s.textContent = '#box{& b{color:red} color:blue}'; "
        "s.sheet.cssRules[0].cssRules[1].style.backgroundImage = 'url(' + T + ')';"
    ),
    "/font-face-rule-style": style_element(
        "s.textContent = '@font-face{font-family:f} #box{font-family:f}'; "
        "s.sheet.cssRules[0].style.src = 'url(' + T + ')';"
    ),
}
# An internationalised host a tracker list names (as its xn-- form), spelt in Unicode: in a
# module's import (read so only where a config's service named one), with a character
# reference in an attribute (read as IBM866's byte: bnocher.example), in a module a script
# inserts (found by helper-147; IDN_PROXY's tracker list).
IDN_HOST = "xn--bcher-kva.example"
IDN_FOUND = {
    "/idn-module-import": module("https://b\u00fccher.example/a.js"),
    "/idn-image-host-reference": "<img src='https://b&uuml;cher.example/a.png'>",
    "/idn-script-src-host-reference": "<script src='https://b&uuml;cher.example/a.js'></script>",
    "/idn-style-host-css-escape": "<div style='width:9px;height:9px;"
    "background:url(https://b\\fc cher.example/a.png)'>x</div>",
    "/idn-inserted-module-import": script(
        "var s = document.createElement('script'); s.type = 'module'; "
        's.textContent = "import \'https://b\u00fc" + "cher.example/a.js\';"; '
        "document.head.appendChild(s);"
    ),
}
# Navigations a script makes, U their URL (a tracker's here; the site's own and an allowed
# host's in NAVIGATION_CONTROLS): a form submitted (into the hidden frame h or the page
# itself), a link or a form's button clicked, each once the page has loaded. form(method,
# target) is a form of the page's going to U.
NAVIGATIONS = {
    "form-submit-get-into-a-hidden-frame": "form('get', 'h').submit();",
    "form-submit-post-into-a-hidden-frame": "form('post', 'h').submit();",
    "form-submit-get-top-level": "form('get').submit();",
    "form-submit-post-top-level": "form('post').submit();",
    "form-request-submit": "form('post', 'h').requestSubmit();",
    # (an <input name=submit> hides the form's own submit: the prototype's is called)
    "form-submit-call-past-a-named-input": "var f = form('get', 'h'); "
    "f.appendChild(document.createElement('input')).name = 'submit'; "
    "HTMLFormElement.prototype.submit.call(f);",
    "form-request-submit-with-a-formaction-submitter": "var f = form('get', 'h'); "
    "f.action = '/landing'; var b = f.appendChild(document.createElement('button')); "
    "b.setAttribute('formaction', U); f.requestSubmit(b);",
    "submit-button-with-formaction-clicked": "var f = form('post', 'h'); f.action = '/landing'; "
    "var b = f.appendChild(document.createElement('button')); b.setAttribute('formaction', U); "
    "b.click();",
    "submit-input-clicked": "var i = form('get', 'h').appendChild(document.createElement('input'));"
    " i.type = 'submit'; i.click();",
    "link-clicked-top-level": "link().click();",
    "link-clicked-into-a-hidden-frame": "link('h').click();",
    "link-not-in-the-document-clicked": "var a = document.createElement('a'); a.href = U; "
    "a.target = 'h'; a.click();",
    "link-click-event-dispatched": "link('h').dispatchEvent(new MouseEvent('click'));",
    "click-event-dispatched-inside-a-link": "var s = link('h').appendChild("
    "document.createElement('span')); s.dispatchEvent(new MouseEvent('click', {bubbles: true}));",
    "label-of-a-submit-button-clicked": "var b = form('get', 'h').appendChild("
    "document.createElement('button')), l = document.createElement('label'); b.id = 'b'; "
    "l.htmlFor = 'b'; document.body.appendChild(l).click();",
    "label-click-event-dispatched": "var b = form('get', 'h').appendChild("
    "document.createElement('button')), l = document.createElement('label'); b.id = 'b'; "
    "l.htmlFor = 'b'; document.body.appendChild(l).dispatchEvent(new MouseEvent('click'));",
    "area-clicked": "var m = document.body.appendChild(document.createElement('map')), "
    "a = m.appendChild(document.createElement('area')); a.href = U; a.target = 'h'; a.click();",
    # another realm's: a same-origin frame's prototypes on the page's elements, its own form
    "frame-realm-submit-of-a-page-form": "var w = document.body.appendChild("
    "document.createElement('iframe')).contentWindow; "
    "w.HTMLFormElement.prototype.submit.call(form('get', 'h'));",
    "frame-realm-click-of-a-page-link": "var w = document.body.appendChild("
    "document.createElement('iframe')).contentWindow; w.HTMLElement.prototype.click.call(link('h'));",
    "frame-own-form-submitted": "var d = document.body.appendChild("
    "document.createElement('iframe')).contentDocument, f = d.createElement('form'); "
    "f.action = U; d.body.appendChild(f); f.submit();",
}


def navigation(js: str, url: str) -> str:
    """js run once the page has loaded, going to url (a JS expression)."""
    return "<iframe name=h hidden></iframe>" + script(
        f"var U = {url}; function form(m, t) {{ var f = document.createElement('form'); "
        "f.method = m; f.action = U; if (t) f.target = t; "
        "f.appendChild(document.createElement('input')).name = 'q'; "
        "return document.body.appendChild(f); } "
        "function link(t) { var a = document.createElement('a'); a.href = U; a.textContent = 'x';"
        " if (t) a.target = t; return document.body.appendChild(a); } "
        f"addEventListener('load', function () {{ setTimeout(function () {{ {js} }}); }});"
    )


FOUND |= {f"/{name}": navigation(js, "T") for name, js in NAVIGATIONS.items()}
OWN_LANDING, ALLOWED_LANDING = "/landing", "https://example.org/landing"
NAVIGATION_CONTROLS = {
    f"/{where}-{name}": navigation(js, repr(url))
    for name, js in NAVIGATIONS.items()
    for where, url in (("own", OWN_LANDING), ("allowed", ALLOWED_LANDING))
}
# The visitor's own: a click on a link, and on a form's button whose submit handler checks
# the form and then submits it by script.
VISITOR = {
    "/visitor-clicks-a-link": script(
        "var a = document.createElement('a'); a.id = 'go'; "
        "a.href = T; a.textContent = 'go'; document.body.appendChild(a);"
    ),
    "/visitor-submits-a-form-checked-by-script": script(
        "var f = document.createElement('form'); f.action = T; f.method = 'post'; "
        "f.innerHTML = '<input name=q value=1><button id=go>go</button>'; "
        "f.addEventListener('submit', function (e) { e.preventDefault(); "
        "if (f.q.value) HTMLFormElement.prototype.submit.call(f); }); "
        "document.body.appendChild(f);"
    ),
    # (Facebook's own share snippet: a popup named facebook-share-dialog)
    "/visitor-clicks-a-share-link-opening-a-popup": script(
        "var a = document.createElement('a'); a.id = 'go'; a.href = '#'; a.textContent = 'share'; "
        "a.onclick = function () { window.open(T, 'facebook-share-dialog', "
        "'width=626,height=436'); return false; }; document.body.appendChild(a);"
    ),
}
# A script going to a tracker on the visitor's click, but not where the visitor went: a form
# of its own submitted, a window opened in one of the page's frames (the top's or a frame's).
# Markup a forum comment can hold: same-origin posts to the proxy's endpoints, which their
# CSRF check lets through (FOUND: one click recorded Accept all, or erased the choice).
ENDPOINT_FORMS = {
    "/comment-form-to-choice": "<form method=post action='/.consent/choice'>"
    "<input type=hidden name=action value=accept-all><button id=go>Win a prize</button></form>",
    "/comment-button-to-choice": "<form method=post><input type=hidden name=action "
    "value=accept-all><button id=go formaction='../.consent/choice'>Win a prize</button></form>",
    "/comment-form-to-erase": "<form method=post action='/.consent/me/erase'>"
    "<button id=go>Win a prize</button></form>",
}
ANY_CLICK = {
    "/form-submitted-on-any-click": "<iframe name=h hidden></iframe><button id=go>go</button>"
    + script(
        "var f = document.createElement('form'); f.action = T; f.target = 'h'; "
        "document.body.appendChild(f); "
        "document.addEventListener('click', function () { f.submit(); });"
    ),
    "/window-opened-in-a-frame-on-a-click": "<iframe name=h hidden></iframe>"
    "<button id=go>go</button>"
    + script("document.getElementById('go').onclick = function () { window.open(T, 'h'); };"),
    "/window-opened-in-a-nested-frame-on-a-click": "<iframe srcdoc='<iframe name=h></iframe>'>"
    "</iframe><button id=go>go</button>"
    + script("document.getElementById('go').onclick = function () { window.open(T, 'h'); };"),
}

# Pages whose loader exists only in a secure context (https; here their origins are
# declared secure to Chromium).
SECURE = {
    "/paint-worklet-add-module",
    "/cache-add",
    "/cache-add-all",
}
BLOCKED = {
    # (spellings read already: entities, backslashes, case, a final dot, percent-escapes,
    # IDNA's full stops and fullwidth letters, C0 controls around)
    "/img-entity-spelt-url": "<img src='https:&#x2F;&#x2F;www&period;face&NewLine;book.com/tr'>",
    "/img-backslashes-upper-case-final-dot": "<img src='HTTPS:\\\\WWW.FACEBOOK.COM.\\tr'>",
    "/img-percent-and-ideographic-stops": "<img src='\x01 https://%77ww\u3002facebook\uff0ecom/tr'>",
    "/img-fullwidth-letters": "<img src='https://\uff57\uff57\uff57.facebook.com/tr'>",
    "/module-import-backslashes": module(f"https:{'\\' * 4}{GA_HOST}\\\\a.js"),
    "/module-import-percent-and-ideographic-stop": module(
        "https://%77ww\u3002google-analytics\uff0ecom./a.js"
    ),
    "/inserted-module-import-upper-case-percent": inserted_module(
        "HTTPS://%77ww.google-analytics.COM./a.js"
    ),
    "/audio-src": f"<audio src='{PIXEL}' preload=auto></audio>",
    "/host-with-kelvin-sign": "<img src='https://www.faceboo\u212a.com/tr'>",
    "/img-in-declarative-shadow-root": f"<div><template shadowrootmode=open><img src='{PIXEL}'>"
    "</template></div>",
    "/meta-refresh-comma": f"<meta http-equiv=refresh content='0,url={PIXEL}'>",
    "/script-language-attribute": f"<script language=JavaScript1.5 src='{GA}'></script>",
    "/input-type-image-uppercase": f"<input type=IMAGE src='{PIXEL}'>",
    "/link-preload-fetch": f"<link rel=preload as=fetch crossorigin href='{PIXEL}'>",
    "/template-content-cloned-by-script": f"<template id=t><img src='{PIXEL}'></template>"
    + script("box.appendChild(document.getElementById('t').content.cloneNode(true));"),
    "/window-open-into-a-hidden-frame": "<iframe name=h hidden></iframe>"
    + script("window.open(T, 'h');"),
    # (Compression Dictionary Transport: Chromium fetches the dictionary once the page is idle,
    # whatever its host; held as any <link>'s href, in markup and at run time)
    "/link-compression-dictionary": f"<link rel=compression-dictionary href='{PIXEL}'>",
    "/inserted-link-compression-dictionary": script(
        "var l = document.createElement('link'); l.rel = 'compression-dictionary'; "
        "l.href = T; document.head.appendChild(l);"
    ),
}

# Loaders whose request the recorder cannot see (Chromium sends a fetchLater as the page
# ends, and an audio worklet's module past the context's routes): their refusal is checked.
REFUSED = {
    "fetch-later": "fetchLater(T, {activateAfter: 0})",
    "audio-worklet-add-module": "new AudioContext().audioWorklet.addModule(G)",
}
REFUSED_PAGE = "/refused-loaders"

# A site's script naming a tracker of each of two categories by URL (a bootstrap, the
# Guardian's or pcgamer's) runs once either category is accepted (policy.blocked_inline):
# whatever it then loads or stores of the other, by each route, the guard holds.
MIXED = {
    f"/mixed-{name}": "<div id=box></div><script>var F = 'https://www.facebook.com/tr?id=1', "
    "s = document.createElement('script'), box = document.getElementById('box'); "
    f"s.src = '{GA}'; document.head.appendChild(s);\n{js}</script>"
    for name, js in {
        "image": "new Image().src = F;",
        "script": "var f = document.createElement('script'); f.src = F; "
        "document.head.appendChild(f);",
        "fetch": "fetch(F, {mode: 'no-cors'});",
        "xhr": "var x = new XMLHttpRequest(); x.open('GET', F); x.send();",
        "beacon": "navigator.sendBeacon(F);",
        "document-write": "document.write('<img src=\"' + F + '\">');",
        "inner-html": "box.innerHTML = '<iframe src=\"' + F + '\"></iframe>';",
        "cookie": "document.cookie = '_fbp=fb.1.1.1; path=/'; new Image().src = F;",
        # (a form submitted, a link clicked: into a hidden frame; held for advertising too,
        # as a navigation no hook held, until the guard's submit and click hooks)
        "form-submit": "var h = document.body.appendChild(document.createElement('iframe')), "
        "f = document.body.appendChild(document.createElement('form')); h.name = 'h'; "
        "h.hidden = true; f.action = F; f.target = 'h'; f.submit();",
        "link-click": "var h = document.body.appendChild(document.createElement('iframe')), "
        "a = document.body.appendChild(document.createElement('a')); h.name = 'h'; "
        "h.hidden = true; a.href = F; a.target = 'h'; a.click();",
    }.items()
}


# The origin's Set-Cookie lifetimes the proxy read within the cap, and Chromium as 2100 (kept
# for its own ceiling, 400 days): FOUND by helper-115.
ORIGIN_LIFETIMES = {
    "/origin-cookie-expires-led-by-a-colon-token": "Expires=2026:1 Jan 01 2100 00:00:00 GMT",
    "/origin-cookie-expires-with-a-long-token": "Expires=Dec 31 2026abc 2100 00:00:00 GMT",
    "/origin-cookie-max-age-too-long-for-chromium": (
        "Max-Age=" + "0" * 1100 + "60; Expires=Fri, 01 Jan 2100 00:00:00 GMT"
    ),
}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redteam_origin() -> AsyncIterator[str]:
    pages = FOUND | BLOCKED | MIXED | NAVIGATION_CONTROLS | VISITOR | ANY_CLICK | ENDPOINT_FORMS
    pages |= IDN_FOUND
    pages |= {REFUSED_PAGE: script(""), OWN_LANDING: "landed"}
    pages |= dict.fromkeys(ORIGIN_LIFETIMES, "set")
    headers = {
        path: {"Set-Cookie": f"lang=x{i}; Path=/; {attrs}"}
        for i, (path, attrs) in enumerate(ORIGIN_LIFETIMES.items())
    }
    async with pages_origin(pages, headers=headers) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redteam_proxy(redteam_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(redteam_origin)  # report-only, the default
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def idn_proxy(redteam_origin: str, tmp_path_factory) -> AsyncIterator[str]:
    """The proxy with a tracker list naming IDN_HOST (analytics)."""
    layer = tmp_path_factory.mktemp("idn") / "layer.tsv"
    layer.write_text(f"buecher\tanalytics\tsite analytics\tB\u00fccher\t\t{IDN_HOST}\n")
    running = await start_proxy(redteam_origin, tracker_lists=(str(layer),))
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


async def tracker_hosts(browser: Browser, base_url: str, path: str) -> set[str]:
    async with recorded(browser, base_url) as (tab, recorder):
        await tab.goto(path)
        await tab.wait_for_load_state("networkidle")
        await tab.wait_for_timeout(300)
        return recorder.hosts


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def secure_browser(redteam_origin: str, redteam_proxy: str) -> AsyncIterator[Browser]:
    """Chromium taking the origin and the proxy for secure contexts."""
    async with secure_chromium(redteam_origin, redteam_proxy) as browser:
        yield browser


@pytest.mark.parametrize("path", [*FOUND, *BLOCKED])
async def test_no_tracker_is_requested_before_a_choice(
    browser, secure_browser, redteam_origin, redteam_proxy, path
):
    browser = secure_browser if path in SECURE else browser
    assert await tracker_hosts(browser, redteam_origin, path), (
        "the origin's page must load a tracker (else this test proves nothing)"
    )
    assert await tracker_hosts(browser, redteam_proxy, path) == set()


@pytest.mark.parametrize("path", list(IDN_FOUND))
async def test_an_internationalised_tracker_host_is_not_requested_before_a_choice(
    browser, redteam_origin, idn_proxy, path
):
    assert IDN_HOST in await tracker_hosts(browser, redteam_origin, path)
    assert await tracker_hosts(browser, idn_proxy, path) == set()


@pytest.mark.parametrize("load", list(REFUSED.values()), ids=list(REFUSED))
async def test_a_loader_the_recorder_cannot_see_is_refused_before_a_choice(
    secure_browser, redteam_origin, redteam_proxy, load
):
    async def outcome(base_url: str) -> str:
        async with recorded(secure_browser, base_url) as (tab, _):
            await tab.goto(REFUSED_PAGE)
            return await tab.evaluate(
                f"async () => {{ try {{ await {load}; return 'run'; }} "
                "catch (e) { return e.name; } }"
            )

    # (AbortError: the worklet's module was asked for and got no script back)
    assert await outcome(redteam_origin) in {"run", "AbortError"}
    assert await outcome(redteam_proxy) == "SecurityError"


@pytest.mark.parametrize("path", list(MIXED))
@pytest.mark.parametrize("where", ["in place", "next view"])
async def test_a_script_of_two_categories_run_for_one_loads_nothing_of_the_other(
    browser, redteam_origin, redteam_proxy, path, where
):
    """Analytics chosen in the banner (in place: the script the proxy held comes back, its
    mark listing both categories; next view: the proxy lets it through)."""
    assert await tracker_hosts(browser, redteam_origin, path) >= {
        "www.google-analytics.com",
        "www.facebook.com",
    }
    async with recorded(browser, redteam_proxy) as (tab, recorder):
        await tab.goto(path)
        visit = Visit()
        await choose(tab, visit, "save:analytics")
        assert not visit.errors
        if where == "next view":
            recorder.clear()
            await tab.reload()
        await tab.wait_for_load_state("networkidle")
        await tab.wait_for_timeout(300)
        assert "www.google-analytics.com" in recorder.hosts  # (it ran)
        assert "www.facebook.com" not in recorder.hosts
        assert "_fbp" not in {c["name"] for c in await tab.context.cookies()}


@pytest.mark.parametrize("path", list(NAVIGATION_CONTROLS))
async def test_a_scripted_navigation_to_the_site_or_an_allowed_host_goes_on(
    browser, redteam_proxy, path
):
    """The site submits its own forms and clicks its own links by script all the time."""
    async with recorded(browser, redteam_proxy) as (tab, recorder):
        urls: list[str] = []
        tab.on("request", lambda r: urls.append(r.url))
        await tab.goto(path)
        await tab.wait_for_load_state("networkidle")
        await tab.wait_for_timeout(300)
        if path.startswith("/own-"):
            assert any(u.startswith(redteam_proxy + OWN_LANDING) for u in urls), urls
        else:
            assert recorder.hosts == {"example.org"}


@pytest.mark.parametrize("path", list(VISITOR))
async def test_the_visitors_own_navigation_to_a_tracker_goes_on(browser, redteam_proxy, path):
    """A click of the visitor's is theirs: the link it follows, the form it submits (also
    when the form's submit handler submits it after checking it)."""
    async with recorded(browser, redteam_proxy) as (tab, recorder):
        await tab.goto(path)
        await tab.click("#go")
        await tab.wait_for_load_state("networkidle")
        await tab.wait_for_timeout(300)
        assert recorder.hosts == {"www.facebook.com"}


@pytest.mark.parametrize("path", list(ANY_CLICK))
async def test_a_script_going_to_a_tracker_on_a_click_of_the_visitors_elsewhere_is_refused(
    browser, redteam_origin, redteam_proxy, path
):
    """The visitor's click is theirs for the form they click in and for a window of its own,
    not for a tracker's form a script submits on any click or a tracker opened in a frame."""
    for base, expected in ((redteam_origin, {"www.facebook.com"}), (redteam_proxy, set())):
        async with recorded(browser, base) as (tab, recorder):
            await tab.goto(path)
            await tab.click("#go")
            await tab.wait_for_load_state("networkidle")
            await tab.wait_for_timeout(300)
            assert recorder.hosts == expected, base


async def test_a_refused_request_fails_as_a_csp_refusal_did(browser, redteam_proxy):
    """An XMLHttpRequest to a tracker ends as CSP ended it, with a network error: a page
    waiting for its error or loadend event goes on, a synchronous one throws."""
    async with recorded(browser, redteam_proxy) as (tab, recorder):
        await tab.goto(REFUSED_PAGE)
        seen = await tab.evaluate(
            """() => new Promise(done => {
                var x = new XMLHttpRequest(), events = [];
                ['readystatechange', 'load', 'error', 'loadend'].forEach(e =>
                    x.addEventListener(e, () => events.push(e + ' ' + x.readyState + ' '
                        + x.status)));
                x.addEventListener('loadend', () => {
                    var s = new XMLHttpRequest(), thrown = 'none';
                    try { s.open('GET', T, false); s.send(); } catch (e) { thrown = e.name; }
                    done({events, thrown, own: Object.keys(x).concat(Object.keys(s))});
                });
                x.open('GET', T);
                x.send();
                setTimeout(() => done({events, thrown: 'timeout', own: Object.keys(x)}), 3000);
            })"""
        )
        assert seen == {
            "events": ["readystatechange 1 0", "readystatechange 4 0", "error 4 0", "loadend 4 0"],
            "thrown": "NetworkError",
            "own": [],
        }
        assert recorder.hosts == set()


async def test_a_font_s_bytes_reach_the_font_face_as_bytes(browser, redteam_proxy):
    """A FontFace made from the font's bytes (an ArrayBuffer, a view of one) is given them:
    the guard reads a source that is no buffer once as CSS, and reading bytes as text would
    spoil the font. (No font at hand: the bytes are no font, and the error says they were
    read as such.)"""
    async with recorded(browser, redteam_proxy) as (tab, recorder):
        await tab.goto(REFUSED_PAGE)
        errors = await tab.evaluate(
            """() => Promise.all([new ArrayBuffer(8), new Uint8Array(8)].map(b =>
                new FontFace('f', b).loaded.then(() => 'loaded', e => e.message)))"""
        )
        assert errors == ["Invalid font data in ArrayBuffer."] * 2
        assert recorder.hosts == set()


async def test_the_css_rule_hooks_leave_a_selector_and_a_missing_argument_alone(
    browser, redteam_proxy
):
    """addRule's selector is no style: `a[href^="https://www.facebook.com/"]` became
    `a[href^="about:invalid"]`, a page's styling of its share links lost; and a call with no
    argument was given one (replaceSync() emptied the sheet instead of throwing): helper-251."""
    async with recorded(browser, redteam_proxy) as (tab, recorder):
        await tab.goto(REFUSED_PAGE)
        seen = await tab.evaluate(
            """() => {
                var s = new CSSStyleSheet(), thrown = 'none';
                s.addRule('a[href^="' + T + '"]', 'color: red');
                s.replaceSync('p { color: blue }');
                try { s.replaceSync(); } catch (e) { thrown = e.name; }
                return [s.cssRules[0].cssText, thrown];
            }"""
        )
        assert seen == ["p { color: blue; }", "TypeError"]
        selector = await tab.evaluate(
            """() => { var s = new CSSStyleSheet(); s.addRule('a[href^="' + T + '"]', 'color: red');
                       return s.cssRules[0].selectorText; }"""
        )
        assert "www.facebook.com" in selector and "about:invalid" not in selector
        assert recorder.hosts == set()


async def test_a_cookie_a_script_sets_lives_no_longer_than_an_origins(
    secure_browser, redteam_proxy
):
    """cap_cookie_lifetime_days (395 days by default) holds for a script's cookies as for
    the origin's: two years asked by document.cookie (by Max-Age, by Expires) and by the
    Cookie Store API (by expires, by maxAge) are cut (Chromium's own ceiling is 400 days).
    Necessary cookies here: they need no consent."""
    writes = {  # how: (the cookie written, the script writing it)
        "document.cookie, max-age": (
            "lang=en",
            "document.cookie = 'lang=en; max-age=63072000; path=/'",
        ),
        "document.cookie, the last max-age": (
            "PHPSESSID=2",
            "document.cookie = 'PHPSESSID=2; max-age=5; max-age=63072000; path=/'",
        ),
        "document.cookie, expires": (
            "PHPSESSID=1",
            "document.cookie = 'PHPSESSID=1; path=/; expires=' + new Date(Date.now() + 6e10).toUTCString()",
        ),
        "document.cookie, a two-digit year (V8's Date.parse: 1969; the jar: 2069)": (
            "lang=de",
            "document.cookie = 'lang=de; path=/; expires=Tue, 01 Jan 69 00:00:00 GMT'",
        ),
        "document.cookie, a signed max-age": (
            "lang=it",
            "document.cookie = 'lang=it; path=/; max-age=+63072000'",
        ),
        "cookieStore.set": (
            "lang=fr",
            "cookieStore.set({name: 'lang', value: 'fr', expires: Date.now() + 2 * 365 * 864e5})",
        ),
        "cookieStore.set, maxAge (seconds)": (
            "PHPSESSID=3",
            "cookieStore.set({name: 'PHPSESSID', value: '3', maxAge: 2 * 365 * 86400})",
        ),
    }
    async with recorded(secure_browser, redteam_proxy) as (tab, _):
        await tab.goto(REFUSED_PAGE)
        for how, (cookie, js) in writes.items():
            now = await tab.evaluate(f"async () => {{ await ({js}); return Date.now() / 1e3; }}")
            name, value = cookie.split("=")
            jar = await jar_with(tab.context, cookie)
            assert jar.get(name, {}).get("value") == value, how
            assert now + 394 * 86400 < jar[name]["expires"] <= now + 395 * 86400 + 5, how


async def test_a_script_s_cookie_lives_no_longer_than_the_cap_however_chromium_reads_it(
    secure_browser, redteam_proxy
):
    """The guard passed these on as they came, reading each within the cap, and Chromium
    kept them 400 days (helper-117): now it writes its own one max-age, never longer than
    the cap (here a past date's 0 for the first: the cookie is not kept at all)."""
    async with recorded(secure_browser, redteam_proxy) as (tab, _):
        await tab.goto(REFUSED_PAGE)
        for i, attrs in enumerate(ORIGIN_LIFETIMES.values()):
            js = f"document.cookie = 'lang=s{i}; path=/; ' + {attrs!r}"
            now = await tab.evaluate(f"() => {{ {js}; return Date.now() / 1e3; }}")
            jar = {c["name"]: c for c in await tab.context.cookies()}
            if jar.get("lang", {}).get("value") == f"s{i}":
                assert jar["lang"]["expires"] <= now + 395 * 86400 + 5, attrs[:40]


@pytest.mark.parametrize("path", list(ORIGIN_LIFETIMES))
async def test_an_origins_cookie_lives_no_longer_than_the_cap_however_chromium_reads_it(
    browser, redteam_proxy, path
):
    """The proxy passed each Set-Cookie on as it came, reading its lifetime within the cap
    (a past date, 60 s), and Chromium kept it 400 days: a token it skips (`2026:1`, `2026abc`)
    or a value over 1,024 bytes, which it ignores. The origin's lifetime attributes now give
    way to the proxy's one Max-Age. (lang: a necessary cookie, set with no choice made.)"""
    value = f"x{list(ORIGIN_LIFETIMES).index(path)}"
    async with recorded(browser, redteam_proxy) as (tab, _):
        await tab.goto(path)
        now = await tab.evaluate("Date.now() / 1e3")
        jar = await jar_with(tab.context, f"lang={value}")
        assert jar.get("lang", {}).get("value") == value
        assert now + 394 * 86400 < jar["lang"]["expires"] <= now + 395 * 86400 + 5


@pytest.mark.parametrize("path", list(ENDPOINT_FORMS))
async def test_a_form_of_the_sites_markup_cannot_post_to_the_proxys_endpoints(
    browser, redteam_proxy, path
):
    """The visitor's click on it posts to the page itself: no choice is made, none erased."""
    async with recorded(browser, redteam_proxy) as (tab, _):

        async def state() -> object:
            return await tab.evaluate("fetch('/.consent/state').then(r => r.json())")

        await tab.goto(path)
        if path.endswith("erase"):  # a visitor who has chosen: the form would take it back
            await tab.click("[data-consent-action=reject-all]")
            for _ in range(100):
                if (await state())["decided"]:  # type: ignore[index]
                    break
                await tab.wait_for_timeout(50)
        before = await state()
        async with tab.expect_navigation():
            await tab.click("#go")
        assert await state() == before
