/* consentproxy banner: enhances the server-rendered form (which works without JS too):
 * posts choices as JSON, manages focus and Esc, shows click-to-load placeholders, and
 * brings neutralised elements back in place when the new state allows them. Runs after
 * guard.js in the same function, whose tools it gets as `guard` (never on window). */
(function () {
  'use strict';
  if (!guard) return; // (another copy's guard came first: its banner is up)
  // The guard's tools, in the order guard.js returns them. ours(el): whether the proxy (or
  // the guard) marked el in this response. The site's markup may carry data-consent-*
  // attributes of its own (user content keeping data-*): never activated.
  var [guardState, guardAsking, ours, serviceOf, allowsService, deleteCookies,
    setAttr, guardFetch, failedScripts, retried, replay] = guard;
  // A site's modal dialog or popover wherever it is (in a shadow root of its own too, where
  // no toggle event reaches the document): the banner hears of it (raise, below).
  var early = null, lift = function (t) { early = t; };
  [[window.HTMLDialogElement, 'showModal'], [window.HTMLElement, 'showPopover'], [window.HTMLElement, 'togglePopover']].forEach(function (m) {
    var p = m[0] && m[0].prototype, native = p && p[m[1]];
    if (native) p[m[1]] = function () {
      var r = native.apply(this, arguments);
      lift(this);
      return r;
    };
  });
  var MARK = 'data-consent-blocked', CAT = MARK + '-category', PRE = 'data-consent-';
  // Restore only what the proxy renames, on the tags it neutralises (and on any tag, on...:
  // an event handler it held; the site's own data-consent-* on a tag the proxy or the guard
  // marks are renamed data-site-consent-*).
  var TAGS = /^(script|i?frame|img|image|feimage|link|object|embed|source|video|audio|track|input|applet|a|area|base|body|table|thead|tbody|tfoot|tr|td|th|col|colgroup)$/;
  var ATTRS = /^(src|srcset|href|.+\.href|data|srcdoc|poster|lowsrc|dynsrc|codebase|archive|code|imagesrcset|ping|background|on[a-z]+)$/;
  var EMBEDS = /^(iframe|object|embed)$/;
  var XLINK = 'http://www.w3.org/1999/xlink';
  var INERT = 'about:invalid'; // what the proxy makes a URL in CSS (rewrite/css.py)
  // Never activated, whoever marked them: script URLs, and data: documents and scripts (an
  // event handler's code is no URL: its "javascript:" is a label).
  function runs(el, x, v) {
    if (/srcset|srcdoc|^on/.test(x)) return false;
    try {
      var p = new URL(v, document.baseURI).protocol;
      return /^(javascript|vbscript):$/.test(p) || p === 'data:' && /^(script|i?frame|object|embed)$/.test(tag(el));
    } catch (e) { return false; }
  }
  // Under an enforced CSP these load in place, in a frame document of the proxy's (below);
  // hints and pings of a newly allowed service need no new page, anything else does.
  var FRAMES = /^i?frame$/, NO_PAGE = /^(i?frame|a|area)$/, HINTS = /^(preconnect|dns-prefetch|prefetch|prerender)$/i;
  // The host element must stay visible whatever the site's CSS says about divs.
  // Nor may it become the containing block of the fixed dialog inside it (a 0x0 box at the
  // top: the dialog went off-screen): a site's [popover] styles reach it too.
  var PIN = { display: 'block', visibility: 'visible', opacity: '1', transform: 'none',
    filter: 'none', position: 'static', contain: 'none', 'clip-path': 'none', translate: 'none',
    scale: 'none', rotate: 'none', perspective: 'none', 'backdrop-filter': 'none',
    'will-change': 'auto', 'content-visibility': 'visible', 'container-type': 'normal',
    mask: 'none', transition: 'none', animation: 'none' };
  // In the top layer it is a popover: none of the UA's popover box (the dialog inside stays
  // fixed to the viewport).
  var TOP = { position: 'fixed', inset: '0 auto auto 0', width: '0', height: '0', margin: '0',
    border: '0', padding: '0', background: 'none', overflow: 'visible' };

  function list(x) { return Array.prototype.slice.call(x || []); }
  function has(a, x) { return (a || []).indexOf(x) !== -1; }
  function json(v) { try { return JSON.parse(v) || {}; } catch (e) { return {}; } }
  function fmt(s, o) { return s.replace(/\{(\w+)\}/g, function (m, k) { return o[k]; }); }
  function tag(el) { return (el.localName || '').toLowerCase(); }
  // JSON by hand: a page's toJSON on Array/Object.prototype (Prototype.js) must not change
  // what is sent or stored. Values are names, lists, flags and numbers.
  function encode(v) {
    if (Array.isArray(v)) return '[' + v.map(encode).join(',') + ']';
    if (typeof v === 'string') {
      return '"' + v.replace(/[\\"\u0000-\u001f\u2028\u2029]/g, function (c) {
        return '\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);
      }) + '"';
    }
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (!v || typeof v !== 'object') return 'null';
    return '{' + Object.keys(v).map(function (k) { return encode(k) + ':' + encode(v[k]); }).join(',') + '}';
  }
  function px(v) { return /^\d+$/.test(v) ? v + 'px' : v; }
  function pin(el, props) { Object.keys(props).forEach(function (k) { el.style.setProperty(k, props[k], 'important'); }); }
  function make(name, props, kids) {
    var el = document.createElement(name);
    Object.keys(props || {}).forEach(function (k) { el.setAttribute(k, props[k]); });
    (kids || []).forEach(function (k) { el.append(k); });
    return el;
  }

  function init() {
    // The proxy's banner carries the response's mark: markup posing as it does not.
    var root = list(document.querySelectorAll('[id=consentproxy]')).filter(ours)[0];
    if (!root || root.__cp) return;
    var shadow = root.shadowRoot, tpl = root.querySelector('template');
    if (!shadow && tpl) { // no declarative shadow DOM (XHTML, old browsers): attach it now
      shadow = root.attachShadow({ mode: 'open' });
      shadow.append(tpl.content.childNodes.length ? tpl.content : list(tpl.childNodes));
    }
    if (tpl) tpl.remove();
    var dialog = shadow && shadow.querySelector('dialog'), form = dialog && dialog.querySelector('form');
    if (!form) return;
    root.__cp = 1;
    var site = early; // (before the banner's own showPopover())
    pin(root, PIN);
    // Out of <body>, last in <html>: a page's inert, transform, contain, opacity or filter on
    // body, or a script policing its children, does not reach the banner. Where supported, in
    // the top layer too, above any z-index and any filter on <html>: a manual popover, which
    // the preferences' showModal() leaves open and nothing light-dismisses.
    var popover = typeof root.showPopover === 'function';
    if (popover) {
      root.setAttribute('popover', 'manual');
      pin(root, TOP);
      // It stays open all along (Manage cookies lives in it): a site's unscoped ::backdrop
      // rule would dim its whole page for good. A constructed sheet: no CSP governs it.
      try {
        var quiet = new CSSStyleSheet();
        quiet.replaceSync('#consentproxy::backdrop{display:none!important}');
        document.adoptedStyleSheets = list(document.adoptedStyleSheets).concat([quiet]);
      } catch (e) { /* an old browser: no constructed sheets */ }
    }
    // (A page's document.open() empties the document and drops the listeners on it and on
    // the window: put back with its new <html>, listening again.)
    var place = function () {
      var html = document.documentElement;
      if (!html) return;
      html.appendChild(root);
      if (popover) try { root.showPopover(); } catch (e) { /* shown in place */ }
      if (listen) listen();
    }, listen;
    place();
    var attr = function (n) { return root.getAttribute('data-consentproxy-' + n); };
    var prefix = attr('prefix') || '/.consent/', state = json(attr('state')), catalog = json(attr('catalog'));
    var T = catalog.texts || {}, lang = root.lang || 'en';
    var details = form.querySelector('.cp-details'), heading = shadow.getElementById('cp-title');
    var style = shadow.querySelector('style'), sheet = null;
    var holders = new WeakMap(), mine = new WeakSet(), queue = Promise.resolve(), opener = null, busy = false;
    var enforce = attr('csp') === 'enforce';
    // This site's own URLs resolve against its address, never a <base> pointing elsewhere
    // (which would send the choice to another host).
    var here = function (path) { return new URL(path, location.href).href; };
    list(shadow.querySelectorAll('[href], [action], [formaction], [src]')).forEach(function (el) {
      ['href', 'action', 'formaction', 'src'].forEach(function (n) {
        var v = el.getAttribute(n);
        if (v && /^\/(?!\/)/.test(v) && new URL(v, document.baseURI).href !== here(v)) el.setAttribute(n, here(v));
      });
    });

    function service(name) { return (catalog.services || {})[name] || [name, '', '', '']; }
    function boxes(kind) { return list(form.querySelectorAll('input[data-consent-' + kind + ']')); }
    // The boxes' choice made with action (services only for save).
    function pick(action) {
      var cats = boxes('category').filter(function (c) { return c.checked && !c.disabled; })
        .map(function (c) { return c.value; });
      var svcs = boxes('service').filter(function (s) {
        return s.checked && !s.disabled && !has(cats, s.getAttribute('data-consent-service-category'));
      }).map(function (s) { return s.value; });
      choose(action, cats, action === 'save' ? svcs : null);
    }
    function sync(next) {
      boxes('category').forEach(function (c) { c.checked = c.disabled || has(next.categories, c.value); });
      boxes('service').forEach(function (s) {
        s.checked = s.disabled || has(next.services, s.value) ||
          has(next.categories, s.getAttribute('data-consent-service-category'));
      });
    }
    // A category switch sets its services; a category is on when all its services are.
    form.addEventListener('change', function (e) {
      var box = e.target, cat = box.getAttribute('data-consent-category');
      var svcCat = box.getAttribute('data-consent-service-category');
      if (cat) {
        boxes('service').forEach(function (s) {
          if (s.getAttribute('data-consent-service-category') === cat) s.checked = box.checked;
        });
      } else if (svcCat) {
        var all = boxes('service').filter(function (s) { return s.getAttribute('data-consent-service-category') === svcCat; });
        var catBox = form.querySelector('input[data-consent-category="' + svcCat + '"]');
        if (catBox) catBox.checked = all.every(function (s) { return s.checked; });
      }
    });

    // Copy each data-consent-X the proxy made back to X (on `to`), dropping it from `from`.
    // The guard's own setter: this element is allowed (or loaded once on purpose). A held
    // PREFIX:href is data-consent-PREFIX.href (a ':' there broke an XHTML page): put back in
    // the namespace `from` binds PREFIX to (an HTML page binds none: xlink is XLink's).
    function restore(from, to) {
      list(from.attributes).forEach(function (a) {
        var n = a.name, x = n.slice(PRE.length), dot = x.lastIndexOf('.');
        if (n.indexOf(PRE) || n === MARK || n === CAT) return;
        if (to === from) from.removeAttribute(n);
        if (!(TAGS.test(tag(to)) ? ATTRS : /^on[a-z]+$/).test(x) && !(x === 'type' && tag(to) === 'script') || runs(to, x, a.value)) return;
        if (dot < 0) return setAttr(to, x, a.value);
        var prefix = x.slice(0, dot), ns = from.lookupNamespaceURI(prefix) || (prefix === 'xlink' ? XLINK : null);
        if (ns) to.setAttributeNS(ns, prefix + ':href', a.value);
        else setAttr(to, prefix + ':href', a.value);
      });
    }

    // What a held script does in its place that no longer works once the page is parsed
    // and loaded: document.write (which would now open a new, empty document: the page
    // gone) goes in after the script, as the parser would have put it; a listener for the
    // load or DOMContentLoaded event that has fired (or a window.onload set) is called
    // now, as it would have been. Only while one of these scripts runs (the scripts it
    // writes included, and an inline one it makes: the parser would have put its writes
    // after the held script too): the page's own code is left as it was.
    var writers = new WeakSet(), writes = new WeakMap(), after = new WeakMap(), done = new WeakMap(), made = new WeakMap();
    var ready = document.readyState !== 'loading', loaded = document.readyState === 'complete', hooked = false;
    document.addEventListener('DOMContentLoaded', function () { ready = true; });
    window.addEventListener('load', function () { loaded = true; });
    function writer() { var s = document.currentScript; return s && (writers.has(s) ? s : !s.src && made.get(s)) || null; }
    function later(fn, target, type) {
      setTimeout(function () {
        var e = new Event(type);
        try {
          if (typeof fn === 'function') fn.call(target, e);
          else if (fn && typeof fn.handleEvent === 'function') fn.handleEvent(e);
        } catch (err) { setTimeout(function () { throw err; }); }
      });
    }
    // (each hook put in a try: a page may have made the method read-only, and a throw here
    // would stop every restore after it)
    function put(o, k, fn) { try { o[k] = fn; } catch (e) {} }
    function hook() {
      if (hooked) return;
      hooked = true;
      var create = document.createElement;
      put(document, 'createElement', function () {
        var el = create.apply(this, arguments), s = writer();
        if (s) made.set(el, s);
        return el;
      });
      ['write', 'writeln'].forEach(function (n, ln) {
        var native = document[n];
        put(document, n, function () {
          var s = writer();
          if (!s) return native.apply(this, arguments);
          writes.set(s, (writes.get(s) || '') + [].join.call(arguments, '') + (ln ? '\n' : ''));
          Promise.resolve().then(function () { flush(s); });
        });
      });
      [[window, 'load'], [document, 'DOMContentLoaded'], [window, 'DOMContentLoaded']].forEach(function (t) {
        var target = t[0], add = target.addEventListener;
        put(target, 'addEventListener', function (type, fn) {
          var r = add.apply(this || target, arguments);
          if (type === t[1] && (type === 'load' ? loaded : ready) && writer()) later(fn, target, type);
          return r;
        });
      });
      var d = Object.getOwnPropertyDescriptor(window, 'onload');
      if (d && d.configurable && d.get && d.set) {
        Object.defineProperty(window, 'onload', { configurable: true, enumerable: d.enumerable,
          // For such a script the load handler has run already: none is pending.
          get: function () { return loaded && writer() ? null : d.get.call(window); },
          set: function (fn) {
            d.set.call(window, fn);
            if (loaded && writer() && typeof fn === 'function') later(fn, window, 'load');
          } });
      }
    }
    // s's writes so far, parsed as markup and put in after it (after what it wrote
    // before); its scripts run in order, and the held script's successors wait for them.
    function flush(s) {
      var text = writes.get(s), at = after.get(s) || s, parent = at.parentNode;
      writes.delete(s);
      if (!text || !parent) return;
      var range = document.createRange();
      range.selectNodeContents(parent);
      var frag = range.createContextualFragment(text), last = frag.lastChild, waits = [];
      list(frag.querySelectorAll('script')).forEach(function (x) {
        writers.add(x);
        if (!x.src) return;
        x.async = false;
        waits.push(new Promise(function (ok) { x.addEventListener('load', ok); x.addEventListener('error', ok); setTimeout(ok, 10000); }));
      });
      parent.insertBefore(frag, at.nextSibling);
      if (last) after.set(s, last);
      done.set(s, Promise.all([done.get(s)].concat(waits)));
    }

    // A fresh <script> is needed for it to run. A classic external one without async
    // holds back the scripts after it until it has run, as the parser would have.
    function runScript(old) {
      hook();
      var s = document.createElement('script');
      writers.add(s);
      list(old.attributes).forEach(function (a) {
        if (a.name !== 'type' && a.name.indexOf(PRE)) setAttr(s, a.name, a.value);
      });
      restore(old, s);
      if (old.nonce) s.nonce = old.nonce;
      if (!s.src) s.text = old.text;
      var wait = s.src && !old.hasAttribute('async') && new Promise(function (done) {
        s.onload = s.onerror = done;
        setTimeout(done, 10000);
      });
      if (wait) s.async = false;
      if (!old.parentNode) return;
      old.parentNode.replaceChild(s, old);
      if (s.src && !wait) return;
      return Promise.resolve(wait).then(function () { flush(s); return done.get(s); });
    }

    function activate(el, later) {
      var name = tag(el), p = el.parentNode, ph = holders.get(el);
      if (ph) {
        ph.remove();
        holders.delete(el);
        el.style.removeProperty('display');
      }
      if (el.hasAttribute(PRE + 'style')) restyleAttribute(el);
      if (name === 'style') return restyle(el);
      var svc = el.getAttribute(MARK);
      el.removeAttribute(MARK); // claimed: never queued twice
      if (name === 'script') {
        if (later && el.hasAttribute('defer')) later.push(el);
        else queue = queue.then(function () { return runScript(el); });
        return;
      }
      if (enforce && FRAMES.test(name) && el.hasAttribute(PRE + 'src')) return framed(el, svc);
      restore(el, el); // (another tag's: its event handlers alone)
      el.removeAttribute(CAT);
      if (/^(source|track)$/.test(name) && p && /^(video|audio)$/.test(tag(p))) p.load();
    }

    // CSS whose URLs the proxy made inert (INERT), a <style>'s text or a style attribute:
    // each put back where it was (data-consent-css, data-consent-style list them, one for
    // each INERT in the text, null for the page's own), but one of a service still not
    // allowed (a sheet may name several). null: the list does not fit the text.
    function uninert(text, kept) {
      var parts = text.split(INERT);
      if (!Array.isArray(kept) || parts.length !== kept.length + 1) return null;
      return parts.reduce(function (out, part, i) {
        var u = kept[i - 1], svc = typeof u === 'string' && serviceOf(unescapeCss(u));
        return out + (typeof u === 'string' && !(svc && !svc[2] && !allowsService(svc)) ? u : INERT) + part;
      });
    }
    function restyle(el) {
      var text = uninert(el.textContent, json(el.getAttribute(PRE + 'css')));
      [MARK, CAT, PRE + 'css'].forEach(function (n) { el.removeAttribute(n); });
      if (text !== null) el.textContent = text;
    }
    function restyleAttribute(el) {
      var text = uninert(el.getAttribute('style') || '', json(el.getAttribute(PRE + 'style')));
      el.removeAttribute(PRE + 'style');
      if (text !== null) setAttr(el, 'style', text);
    }
    function unescapeCss(t) {
      return t.replace(/\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|([\s\S]))/g, function (m, h, c) {
        var n = h && parseInt(h, 16);
        if (!h) return c === '\n' ? '' : c;
        return n > 0 && n <= 0x10FFFF && (n < 0xD800 || n > 0xDFFF) ? String.fromCodePoint(n) : '\uFFFD';
      });
    }

    // The page's enforced CSP cannot let a new host in: the frame goes to a document of the
    // site's own origin that frames the embed under a CSP of its own, for a grant the proxy
    // signs for this service and URL (docs/SECURITY.md: consent given on the page).
    function framed(el, name) {
      var url;
      try { url = new URL(el.getAttribute(PRE + 'src'), document.baseURI).href; } catch (e) { return; }
      list(el.attributes).forEach(function (a) { if (!a.name.indexOf(PRE)) el.removeAttribute(a.name); });
      ask('grant', { service: name, url: url }).then(function (r) { return r.ok ? r.json() : {}; }).then(function (g) {
        if (g.url) setAttr(el, 'src', g.url);
      }, function () {});
    }

    // A request to an endpoint (data: POSTed as JSON, else a GET), with the fetch the guard
    // took before the page's scripts ran, and every request option the browser reads given
    // on an object without a prototype: nothing a page put on Object.prototype (mode,
    // signal...) is read.
    function ask(path, data) {
      var init = Object.create(null);
      init.method = data ? 'POST' : 'GET';
      init.headers = data ? { 'Content-Type': 'application/json', Accept: 'application/json' }
        : { Accept: 'application/json' };
      if (data) init.body = encode(data);
      init.credentials = 'same-origin';
      init.mode = 'same-origin';
      init.cache = 'no-store';
      init.redirect = 'follow';
      init.signal = null;
      return guardFetch(here(prefix + path), init);
    }

    // Whether an element allowed now needs a page whose CSP lets its host in.
    function needsPage(el) {
      var name = tag(el);
      return !NO_PAGE.test(name) && !(name === 'link' && HINTS.test(el.getAttribute('rel') || ''));
    }

    function styles() {
      if (!sheet && style && window.CSSStyleSheet && 'adoptedStyleSheets' in Document.prototype) {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(style.textContent);
      }
      return sheet;
    }

    // A click-to-load panel the size of the blocked embed, in a shadow root of its own.
    function placeholder(el) {
      var w = el.getAttribute('width'), h = el.getAttribute('height'), name = el.getAttribute(MARK);
      if (holders.has(el) || !EMBEDS.test(tag(el)) || !el.parentNode || el.hidden ||
          parseFloat(w) < 10 || parseFloat(h) < 10) return; // beacons get none
      var svc = service(name), title = svc[0], cat = (catalog.categories || {})[svc[1]] || svc[1];
      var rect = el.getBoundingClientRect();
      var host = make('div', { 'data-consent-placeholder': name });
      host.style.setProperty('display', 'block', 'important');
      host.style.width = rect.width ? rect.width + 'px' : px(w || '100%');
      host.style.height = rect.height ? rect.height + 'px' : px(h || '150px');
      host.style.maxWidth = '100%';
      var sr = host.attachShadow({ mode: 'open' });
      if (styles()) sr.adoptedStyleSheets = [sheet];
      else if (style) sr.append(style.cloneNode(true));
      // Under an enforced CSP an <object>/<embed> can only come with a new page: no "once".
      // Nor for one held for several services ("a+b"): it would load the others too.
      var once = (!enforce || FRAMES.test(tag(el))) && el.getAttribute(CAT).indexOf('+') < 0 &&
        make('button', { type: 'button', 'data-consent-action': 'load-once' }, [T['load-once']]);
      var always = make('button', { type: 'button', 'data-consent-action': 'allow-service',
        'data-consent-service': name }, [fmt(T['always-allow'], { service: title })]);
      mine.add(always);
      var kids = [make('p', {}, [make('strong', {}, [title]), ' \u2014 ',
        svc[2] || fmt(T.blocked, { service: title, category: cat })]),
        make('div', {}, once ? [once, always] : [always])];
      if (svc[3]) kids.push(make('a', { href: svc[3], target: '_blank', rel: 'noopener' }, [T.privacy]));
      sr.append(make('div', { class: 'cp-ph', role: 'group', 'aria-label': title, lang: lang, dir: root.dir }, kids));
      if (once) once.addEventListener('click', function (e) { if (e.isTrusted) activate(el); });
      el.parentNode.insertBefore(host, el);
      el.style.setProperty('display', 'none', 'important');
      holders.set(el, host);
    }

    // (an inline script the proxy holds for several categories lists them: any brings it;
    // one holding the code of several, "a+b": all of them, its service's consent not enough)
    function allowed(el) {
      if (asking) return false; // (the guard holds what a page back from the cache inserts)
      var cat = String(el.getAttribute(CAT));
      return cat.split(' ').some(function (c) {
        return c.split('+').every(function (p) { return has(state.categories, p); });
      }) || cat.indexOf('+') < 0 && has(state.services, el.getAttribute(MARK));
    }

    function scan(node) {
      var els = list(node.querySelectorAll('[' + MARK + ']')), later = [];
      if (node.matches && node.matches('[' + MARK + ']')) els.unshift(node);
      els = els.filter(ours);
      // The page's own inline scripts that threw as it loaded, after a held script now
      // brought back (which may define what they use): run again in their turn.
      var first = node === document && els.filter(function (el) { return tag(el) === 'script' && allowed(el); })[0];
      var retry = first ? failedScripts().filter(function (s) {
        return s.isConnected && !s.hasAttribute(MARK) && first.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING;
      }) : [];
      if (retry.length) {
        els = els.concat(retry).sort(function (a, b) {
          return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
        });
      }
      els.forEach(function (el) {
        if (retry.indexOf(el) >= 0) {
          retried(el);
          queue = queue.then(function () { return runScript(el); });
        } else if (allowed(el)) activate(el, later);
        else placeholder(el);
      });
      later.forEach(function (el) { queue = queue.then(function () { return runScript(el); }); });
    }

    // A choice too long for the consent cookie is saved narrowed (services ticked one by one
    // left off): said, with the boxes as saved, here or after the reload a withdrawal makes
    // (the flag holds this page's address but its #hash: a same-origin frame with the
    // banner leaves it; the top document takes it whatever it holds, none lingers).
    var said;
    function narrowed(set) {
      var s, k = 'consentproxy:narrowed', page = location.href.split('#')[0];
      try {
        s = sessionStorage;
        if (set) s.setItem(k, page);
        else if (window.top === window) {
          if (s.getItem(k) === page) said = 1;
          s.removeItem(k);
        }
      } catch (e) {} // (no storage: said in place all the same, from here)
      if (set) said = 1;
      else if (said) { said = 0; show(); message(T.narrowed); }
    }

    function message(text) {
      var m = form.querySelector('.cp-error');
      if (!m) {
        m = form.appendChild(make('p', { class: 'cp-error', role: 'alert' }));
      }
      m.textContent = text;
      m.hidden = !text;
    }

    function prefs() { return dialog.classList.contains('cp-modal'); }
    function focused() {
      var a = document.activeElement;
      while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
      return a;
    }

    // The preferences: a modal dialog (focus kept inside, Esc handled, page inert).
    function show() {
      var a = focused();
      if (!a || !shadow.contains(a)) opener = a;
      if (dialog.open) dialog.close();
      dialog.classList.add('cp-modal');
      dialog.setAttribute('aria-modal', 'true');
      dialog.showModal();
      room();
      if (details) details.open = true;
      (boxes('category').filter(function (c) { return !c.disabled; })[0] || heading).focus();
    }

    function hide() {
      var inside = shadow.contains(focused());
      dialog.close();
      room();
      dialog.classList.remove('cp-modal');
      dialog.removeAttribute('aria-modal');
      if (details) details.open = false;
      message('');
      if (inside) {
        var back = opener && opener !== document.body && opener.isConnected ? opener : shadow.querySelector('.cp-manage');
        if (back) back.focus();
      }
      opener = null;
    }

    // While the first layer is open at the foot of the window, the page has as much room
    // below its end, and what the keyboard focuses scrolls out from under it (WCAG 2.4.11,
    // technique C43); where the site set either property itself, its own is left.
    var pads = [];
    function room() {
      var s = document.documentElement.style, h = dialog.open && !prefs() ? innerHeight - dialog.getBoundingClientRect().top : 0;
      ['', 'scroll-'].forEach(function (p) {
        p += 'padding-bottom';
        if (h > 0 && !s.getPropertyValue(p) && !has(pads, p)) pads.push(p);
        if (has(pads, p)) h > 0 ? s.setProperty(p, h + 'px') : s.removeProperty(p);
      });
    }

    // Esc and the close control: refusing while no choice is made, else just closing.
    // After a policy change (reask), closing keeps what still holds, which answers it.
    function dismiss() {
      if (state.reask) choose('save', state.categories || [], state.services || [], 'close');
      else if (state.decided) hide();
      else choose('reject-all', [], null, 'close');
    }

    // Whether state s allows service name x, by name or by its category.
    function allows(s, x) { return has(s.services, x) || has(s.categories, service(x)[1]); }
    // Withdrawn: a category no longer allowed, or a service allowed neither by name nor
    // by its category any more (accept-all answers services: [] but covers them all).
    function withdraws(old, next) {
      return (old.categories || []).some(function (c) { return !has(next.categories, c); }) ||
        (old.services || []).some(function (s) { return !allows(next, s); });
    }
    // What both the state and a choice allow: the guard's state while a withdrawal is asked
    // for (a grant waits for the answer, a failed request grants nothing more).
    function both(old, chosen) {
      var names = (old.services || []).concat(chosen.services);
      return { decided: old.decided, reask: old.reask, gpc: old.gpc,
        categories: (old.categories || []).filter(function (c) { return has(chosen.categories, c); }),
        services: names.filter(function (x, i) {
          return names.indexOf(x) === i && allows(old, x) && allows(chosen, x);
        }) };
    }

    // remote: the choice was made in another of the site's tabs (see tabs below).
    function apply(next, remote) {
      var withdrawn = withdraws(state, next);
      var old = state;
      state = next;
      root.setAttribute('data-consentproxy-state', encode(next));
      // The guard holds run-time loads back by the same state: update it first.
      guardState(next);
      if (withdrawn) {
        // Running trackers cannot be stopped: clear what they left and start afresh.
        deleteCookies();
        return renew(remote);
      }
      // An enforced CSP was written for the old choice: newly allowed hosts need a new page,
      // unless all they bring here are embeds (they load in place, see framed()).
      var granted = (next.categories || []).some(function (c) { return !has(old.categories, c); }) ||
        (next.services || []).some(function (s) { return !has(old.services, s); });
      if (granted && enforce && list(document.querySelectorAll('[' + MARK + ']')).filter(ours)
        .some(function (el) { return allowed(el) && needsPage(el); })) return renew(remote);
      // Another tab's choice leaves the preferences open here as they were, their boxes synced.
      if (!remote || !(prefs() || location.pathname === prefix + 'preferences')) hide();
      sync(next);
      narrowed();
      swapClose();
      scan(document);
      // The calls the guard's stand-ins kept for services now allowed, once the held
      // scripts are back (their snippets' own init first), whether they ran or failed.
      queue.then(replay, replay);
    }

    // The page afresh: reloaded where the visitor chose; in another tab, asked for again
    // (a GET: a reload would post again a form the page answered).
    function renew(remote) {
      return remote ? location.replace(location.href.split('#')[0]) : location.reload();
    }

    // The site's other tabs hear of a choice made in one (here, or on the page a form post
    // landed on: the form without JavaScript, erasing), and each asks the proxy for the state
    // it now has (the message carries nothing to trust): a withdrawal stops their running
    // trackers too, a grant activates in place. localStorage keeps the last state told.
    var tabs = null, LAST = 'consentproxy:state';
    try { tabs = new BroadcastChannel('consentproxy'); } catch (e) { /* none: a tab learns on its next page */ }
    function told(s) { return encode([!!s.decided, s.categories || [], s.services || [], !!s.reask]); }
    function tell(s) {
      try { localStorage.setItem(LAST, told(s)); } catch (e) { /* no storage: told all the same */ }
      if (tabs) tabs.postMessage('choice');
    }
    // The endpoints' JSON as the page's state: decided also in an opt-out region's default.
    function paged(s) {
      return { decided: !!(s.decided || s.opt_out), categories: s.categories, services: s.services || [],
        reask: !!s.reask, gpc: !!s.gpc };
    }
    // The proxy's state now, applied if it is not the page's.
    // (answered: before the answer is applied, however it came)
    function refresh(answered) {
      return ask('state').then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
        if (answered) answered();
        if (s && Array.isArray(s.categories) && told(paged(s)) !== told(state)) apply(paged(s), true);
        else if (answered) scan(document);
      }, answered);
    }
    // A page back from the browser's back-forward cache is as it was left, its trackers
    // running: a choice made meanwhile that no message reached it with (made on a sibling
    // host under cookie_domain, another origin) is asked for, the guard and the banner
    // holding everything optional until the answer (what they held meanwhile comes back
    // after an answer that changes nothing).
    var asking = false, restored = function (e) {
      if (!e.persisted) return;
      guardAsking(asking = true);
      refresh(function () { guardAsking(asking = false); });
    };
    if (tabs) {
      tabs.onmessage = function (e) {
        // A withdrawal on its way in another tab: the guard stops it here too, now. A
        // message can only narrow it (to what both allow); the state comes with the answer.
        var w = e.data && e.data.withdrawing;
        if (w) {
          if (Array.isArray(w.categories) && Array.isArray(w.services)) guardState(both(state, w));
          return;
        }
        refresh();
      };
      try { var last = localStorage.getItem(LAST); } catch (e) { /* no storage: nothing to compare */ }
      if (last !== told(state)) tell(state);
    }

    // Once a choice exists, the close control no longer means "refuse".
    function swapClose() {
      var close = form.querySelector('.cp-close');
      if (close && close.type === 'submit') {
        close.type = 'button';
        close.removeAttribute('name');
        close.removeAttribute('value');
      }
    }

    // The server-rendered form, posted natively as without JavaScript (the endpoint answers
    // it with a redirect back to the page): the choice in hidden fields, the boxes left out.
    function submit(action, categories, services, via) {
      boxes('category').concat(boxes('service')).forEach(function (b) { b.removeAttribute('name'); });
      [['action', action]].concat(categories.map(function (c) { return ['category', c]; }),
        (services || []).map(function (s) { return ['service', s]; })).forEach(function (f) {
        form.append(make('input', { type: 'hidden', name: f[0], value: f[1] }));
      });
      form.setAttribute('action', here(prefix + 'choice' + (/^(close|do-not-sell)$/.test(via) ? '?via=' + via : '')));
      HTMLFormElement.prototype.submit.call(form);
    }

    function choose(action, categories, services, via) {
      if (busy) return;
      busy = true;
      form.setAttribute('aria-busy', 'true');
      via = via || (prefs() ? 'preferences' : 'banner');
      // shown: the version of the banner this page shows (a choice made on one a reload
      // of the config has since changed is refused, and the page comes afresh: see submit)
      var body = { action: action, categories: categories, lang: lang, via: via, shown: catalog.v }, sent;
      if (services) body.services = services;
      // A withdrawal stops at once: the trackers still running on the page must not send
      // or set anything while the answer (and the reload) comes.
      var chosen = { categories: action === 'reject-all' ? [] : categories, services: services || [] };
      if (action !== 'accept-all' && withdraws(state, chosen)) {
        guardState(both(state, chosen));
        if (tabs) tabs.postMessage({ withdrawing: chosen }); // (the other tabs' trackers too)
      }
      try {
        sent = ask('choice', body);
      } catch (e) { // no usable fetch
        return submit(action, categories, services, via);
      }
      sent.then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (next) {
        if (!next || !Array.isArray(next.categories)) throw new Error('state');
        if (next.narrowed) narrowed(true);
        next = paged(next);
        tell(next); // (before apply, which may reload this tab)
        apply(next);
      }).catch(function (e) {
        // Refused as malformed (whatever the page did to this request): the plain form
        // still gets through. A network failure keeps the banner, saying so.
        if (/^(400|405|415)$/.test(e && e.message)) return submit(action, categories, services, via);
        if (!dialog.open) dialog.show();
        message(T.error);
      }).then(function () {
        busy = false;
        form.removeAttribute('aria-busy');
      });
    }

    // A choice is the visitor's: a click a script makes (el.click(), dispatchEvent) records
    // nothing, though it would have been recorded as theirs ("via": "banner").
    var CHOICES = /^(accept-all|reject-all|save|do-not-sell|close|allow-service)$/;
    function onAction(el, e) {
      var action = el.getAttribute('data-consent-action');
      if (!e.isTrusted && CHOICES.test(action) && (shadow.contains(el) || mine.has(el))) {
        e.preventDefault();
      } else if (/^(accept-all|reject-all|save)$/.test(action) && shadow.contains(el)) {
        e.preventDefault();
        pick(action);
      } else if (action === 'do-not-sell' && shadow.contains(el)) {
        e.preventDefault();
        choose('reject-all', [], null, 'do-not-sell');
      } else if (action === 'open' || action === 'customize' && shadow.contains(el)) {
        e.preventDefault();
        show();
      } else if (action === 'close' && shadow.contains(el)) {
        e.preventDefault();
        dismiss();
      } else if (action === 'allow-service' && mine.has(el)) { // a placeholder's, not the site's
        choose('save', (state.categories || []).slice(),
          (state.services || []).concat([el.getAttribute('data-consent-service')]), 'placeholder');
      }
    }

    function click(e) {
      var path = e.composedPath ? e.composedPath() : [e.target];
      for (var i = 0; i < path.length; i++) {
        if (path[i].getAttribute && path[i].hasAttribute('data-consent-action')) return onAction(path[i], e);
      }
    }
    // The site's own top layer (a modal dialog, a popover) goes over the banner, and its
    // modal makes the rest of the page inert: while the banner is open it goes back on top,
    // its dialog modal above the site's (which has the focus back after the choice).
    function raise(e) {
      var t = e.target, a = focused(), was = shadow.contains(a), modal;
      try {
        modal = t.matches(':modal');
        if (!modal && !t.matches(':popover-open')) return;
      } catch (x) { return; } // not an element, or a browser without popovers
      if (t === root || t === dialog || !dialog.open) return;
      if (modal || dialog.matches(':modal')) {
        if (!was) opener = a;
        dialog.close();
        dialog.showModal();
      } else if (popover) {
        root.hidePopover();
        root.showPopover();
      }
      if (was) a.focus();
    }
    // A keyboard visitor's first Tab lands in the open banner wherever the site put the
    // focus (autofocus, a script). Once: then (or after a click) Tab goes on as usual.
    var first = true;
    function key(e) {
      if (e.key === 'Tab' && first && dialog.open && !shadow.contains(focused())) {
        e.preventDefault();
        (stops()[0] || heading).focus();
      }
      if (e.key === 'Tab' || e.type !== 'keydown') first = false;
    }
    listen = function () {
      document.addEventListener('click', click);
      document.addEventListener('toggle', raise, true);
      addEventListener('keydown', key, true);
      addEventListener('pointerdown', key, true);
      addEventListener('resize', room);
      addEventListener('pageshow', restored);
    };
    listen();
    // Implicit submission (Enter in a field) that did not go through a button: the
    // visitor's Enter, not a script's requestSubmit() (whose submit event the browser fires).
    var entered = 0;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (Date.now() - entered < 1000) pick((e.submitter && e.submitter.value) || 'save');
      entered = 0;
    });
    dialog.addEventListener('cancel', function (e) { // Esc on the modal preferences
      e.preventDefault();
      if (e.isTrusted) dismiss();
    });
    function stops() {
      return list(dialog.querySelectorAll('button, input:not([disabled]), summary, a[href]'))
        .filter(function (el) { return el.getClientRects().length; });
    }
    shadow.addEventListener('keydown', function (e) {
      if (!e.isTrusted) return;
      if (e.key === 'Enter') entered = Date.now();
      if (/^Esc(ape)?$/.test(e.key) && dialog.open && !dialog.matches(':modal')) dismiss();
      if (e.key !== 'Tab' || !dialog.matches(':modal')) return;
      // Tab wraps around inside the modal dialog instead of leaving the page.
      var all = stops(), edge = e.shiftKey ? all[0] : all[all.length - 1];
      if (edge && shadow.activeElement === edge) {
        e.preventDefault();
        (e.shiftKey ? all[all.length - 1] : all[0]).focus();
      }
    });

    // A page's CSP without 'unsafe-inline' for styles blocks the shadow's <style> (the dialog
    // is then not fixed): the same rules as a constructed sheet, which CSP does not govern.
    if (getComputedStyle(dialog).position !== 'fixed' && styles()) shadow.adoptedStyleSheets = [sheet];

    // A frame (a same-origin widget: over plain http nothing tells the proxy it serves one)
    // leaves the first layer to the page around it; in a <frameset> page, the largest frame
    // asks. Placeholders and activation still work there.
    function asks() {
      if (window.top === window) return true;
      try {
        var frames = list(window.top.document.querySelectorAll('frame'));
        if (tag(window.top.document.body || {}) !== 'frameset') return false;
        var area = function (f) { var r = f.getBoundingClientRect(); return r.width * r.height; };
        return frames.reduce(function (a, b) { return area(b) > area(a) ? b : a; }) === window.frameElement;
      } catch (e) { return false; } // a cross-origin top
    }

    var api = window.consentproxy;
    api.open = show;
    if (api.pendingOpen) show();
    else if (dialog.open && (!state.decided || state.reask) && !asks()) dialog.close();
    else if (dialog.open && (!state.decided || state.reask)) {
      // Not modal (the site stays usable) but first in line for keyboard users. An element
      // the site gave the focus or asked it for (autofocus, whether the browser has got to it
      // yet or not) keeps it: their first Tab comes here then (key, above).
      var active = document.activeElement;
      if ((!active || active === document.body) && !document.querySelector('[autofocus]')) heading.focus({ preventScroll: true });
    } else if (dialog.open) {
      dialog.close(); // the preferences page: open as a modal like everywhere else
      show();
    }
    narrowed();
    room();
    scan(document);
    lift = function (t) { raise({ target: t }); };
    lift(document.querySelector(':modal') || site || document);
    var moves = 0, html = document.documentElement;
    new MutationObserver(function (records) {
      // A single-page app that replaces the body must not take the banner with it. Put back
      // after <body>, where scripts policing body's children do not look; a page that keeps
      // removing it anyway is let be after a few tries (a fight would hang the tab). A
      // document made anew (document.open()) gets it again.
      if (html !== document.documentElement) moves = 0, html = document.documentElement;
      if (!root.isConnected && moves++ < 3) place();
      records.forEach(function (r) {
        list(r.addedNodes).forEach(function (n) { if (n.nodeType === 1 && n !== root) scan(n); });
      });
    }).observe(document, { childList: true, subtree: true });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
