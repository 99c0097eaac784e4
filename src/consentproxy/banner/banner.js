/* consentproxy banner: enhances the server-rendered form (which also works without JS),
 * posts choices as JSON and restores the neutralised elements the new state allows. */
(function () {
  'use strict';
  var TEXTS = {
    en: { blocked: 'This content from {s} is blocked until you accept {c}.', allow: 'Allow {c}',
      error: 'Your choice could not be saved. Please try again.' },
    fr: { blocked: 'Ce contenu de {s} est bloqué tant que vous n\u2019acceptez pas\u00a0: {c}.',
      allow: 'Autoriser\u00a0: {c}', error: 'Votre choix n\u2019a pas pu être enregistré. Réessayez.' }
  };
  var MARK = 'data-consent-blocked', CAT = MARK + '-category', PRE = 'data-consent-';
  // Restore only what the proxy renames, on the tags it neutralises: injected markup
  // (e.g. sanitised content keeping data-*) must not turn data-consent-onerror into onerror.
  var TAGS = /^(script|i?frame|img|image|link|object|embed|source|video|audio|track|input|applet)$/;
  var ATTRS = /^(src|srcset|href|xlink:href|data|srcdoc|poster|lowsrc|dynsrc|codebase|archive|code|imagesrcset)$/;

  function list(x) { return Array.prototype.slice.call(x || []); }
  function has(a, x) { return (a || []).indexOf(x) >= 0; }
  function json(v) { try { return JSON.parse(v) || {}; } catch (e) { return {}; } }
  function fmt(s, o) { return s.replace(/\{(\w)\}/g, function (m, k) { return o[k]; }); }
  function tag(el) { return (el.localName || '').toLowerCase(); }
  function px(v) { return /^\d+$/.test(v) ? v + 'px' : v; }

  function init() {
    var root = document.getElementById('consentproxy');
    var form = root && root.querySelector('form');
    if (!form || root.__cp) return;
    root.__cp = 1;
    var attr = function (n) { return root.getAttribute('data-consentproxy-' + n); };
    var prefix = attr('prefix') || '/.consent/', state = json(attr('state')), catalog = json(attr('catalog'));
    var lang = (root.lang || 'en').slice(0, 2).toLowerCase(), T = TEXTS[lang] || TEXTS.en;
    var details = root.querySelector('details'), heading = root.querySelector('#cp-title');
    var holders = new WeakMap(), queue = Promise.resolve(), opener = null, busy = false;

    function title(kind, name) {
      var x = (catalog[kind] || []).filter(function (i) { return i.name === name; })[0];
      return (x && x.title) || name;
    }
    function boxes() { return list(form.querySelectorAll('input[type=checkbox][data-consent-category]')); }
    function checked() {
      return boxes().filter(function (c) { return c.checked && !c.disabled; }).map(function (c) { return c.value; });
    }

    // Copy each data-consent-X the proxy made back to X (on `to`), dropping it from `from`.
    function restore(from, to) {
      list(from.attributes).forEach(function (a) {
        var n = a.name, x = n.slice(PRE.length);
        if (n.indexOf(PRE) || n === MARK || n === CAT) return;
        if (to === from) from.removeAttribute(n);
        if (!ATTRS.test(x) && !(x === 'type' && tag(to) === 'script')) return;
        if (x.indexOf('xlink:')) to.setAttribute(x, a.value);
        else to.setAttributeNS('http://www.w3.org/1999/xlink', x, a.value);
      });
    }

    // A fresh <script> is needed for it to run. A classic external one without async
    // holds back the scripts after it until it has run, as the parser would have.
    function runScript(old) {
      var s = document.createElement('script');
      list(old.attributes).forEach(function (a) {
        if (a.name !== 'type' && a.name.indexOf(PRE)) s.setAttribute(a.name, a.value);
      });
      restore(old, s);
      if (old.nonce) s.nonce = old.nonce;
      if (!s.src) s.text = old.text;
      var wait = s.src && !old.hasAttribute('async') && new Promise(function (done) {
        s.onload = s.onerror = done;
        setTimeout(done, 10000);
      });
      if (wait) s.async = false;
      if (old.parentNode) old.parentNode.replaceChild(s, old);
      return wait;
    }

    function activate(el) {
      var name = tag(el), p = el.parentNode, ph = holders.get(el);
      if (ph) { ph.remove(); holders.delete(el); }
      if (!TAGS.test(name)) return;
      el.removeAttribute(MARK); // claimed: never queued twice
      if (name === 'script') { queue = queue.then(function () { return runScript(el); }); return; }
      restore(el, el);
      el.removeAttribute(CAT);
      if (/^(source|track)$/.test(name) && p && /^(video|audio)$/.test(tag(p))) p.load();
    }

    function placeholder(el) {
      var w = el.getAttribute('width'), h = el.getAttribute('height'), cat = el.getAttribute(CAT);
      if (holders.has(el) || !/^(iframe|object|embed)$/.test(tag(el)) || !el.parentNode || el.hidden ||
          parseFloat(w) < 10 || parseFloat(h) < 10) return; // beacons get none
      var ph = document.createElement('div'), p = document.createElement('p'), b = document.createElement('button');
      ph.className = 'cp-placeholder';
      ph.lang = lang;
      if (w) ph.style.width = px(w);
      if (h) ph.style.height = px(h);
      p.textContent = fmt(T.blocked, { s: title('services', el.getAttribute(MARK)), c: title('categories', cat) });
      b.type = 'button';
      b.setAttribute('data-consent-action', 'allow-category');
      b.setAttribute('data-consent-allow', cat);
      b.textContent = fmt(T.allow, { c: title('categories', cat) });
      ph.appendChild(p);
      ph.appendChild(b);
      el.parentNode.insertBefore(ph, el);
      holders.set(el, ph);
    }

    function scan(node) {
      var els = list(node.querySelectorAll('[' + MARK + ']'));
      if (node.matches && node.matches('[' + MARK + ']')) els.unshift(node);
      els.forEach(function (el) {
        if (has(state.categories, el.getAttribute(CAT)) || has(state.services, el.getAttribute(MARK))) activate(el);
        else placeholder(el);
      });
    }

    function message(text) {
      var m = form.querySelector('.cp-error');
      if (!m) {
        m = form.appendChild(document.createElement('p'));
        m.className = 'cp-error';
        m.setAttribute('role', 'alert');
      }
      m.textContent = text;
      m.hidden = !text;
    }

    function show() {
      if (!form.contains(document.activeElement)) opener = document.activeElement;
      form.hidden = false;
      if (details) details.open = true;
      var first = boxes().filter(function (c) { return !c.disabled; })[0];
      if (!first && heading) heading.tabIndex = -1;
      (first || heading || form).focus();
    }

    function hide() {
      var inside = form.contains(document.activeElement);
      form.hidden = true;
      message('');
      if (inside) {
        var back = opener && opener !== document.body && document.contains(opener) ? opener : root.querySelector('.cp-manage');
        if (back) back.focus();
      }
      opener = null;
    }

    function apply(next) {
      // Withdrawn: a category no longer allowed, or a service allowed neither by name nor
      // by its category any more (accept-all answers services: [] but covers them all).
      var withdrawn = (state.categories || []).some(function (c) { return !has(next.categories, c); }) ||
        (state.services || []).some(function (s) {
          var svc = (catalog.services || []).filter(function (i) { return i.name === s; })[0];
          return !has(next.services, s) && !(svc && has(next.categories, svc.category));
        });
      var old = state;
      state = next;
      root.setAttribute('data-consentproxy-state', JSON.stringify(next));
      // The guard (guard.js) holds run-time loads back by the same state: update it first.
      if (window.consentproxy && window.consentproxy.setState) window.consentproxy.setState(next);
      // Running trackers cannot be stopped; the server already deleted their cookies.
      if (withdrawn) return location.reload();
      // An enforced CSP was written for the old choice: newly allowed hosts need a new page.
      var granted = (next.categories || []).some(function (c) { return !has(old.categories, c); }) ||
        (next.services || []).some(function (s) { return !has(old.services, s); });
      if (granted && attr('csp') === 'enforce') return location.reload();
      hide();
      boxes().forEach(function (c) { c.checked = c.disabled || has(next.categories, c.value); });
      scan(document);
    }

    function choose(action, categories, services) {
      if (busy) return;
      busy = true;
      form.setAttribute('aria-busy', 'true');
      fetch(prefix + 'choice', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify(services ? { action: action, categories: categories, services: services }
          : { action: action, categories: categories })
      }).then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.json();
      }).then(function (next) {
        if (!next || !Array.isArray(next.categories)) throw new Error('state');
        apply(next);
      }).catch(function () {
        form.hidden = false;
        message(T.error);
      }).then(function () {
        busy = false;
        form.removeAttribute('aria-busy');
      });
    }

    document.addEventListener('click', function (e) {
      var el = e.target.closest && e.target.closest('[data-consent-action]');
      var action = el && el.getAttribute('data-consent-action');
      if (/^(accept-all|reject-all|save)$/.test(action) && form.contains(el)) {
        e.preventDefault();
        choose(action, checked());
      } else if (action === 'open') {
        e.preventDefault();
        show();
      } else if (action === 'allow-category') {
        var cats = (state.categories || []).slice(), cat = el.getAttribute('data-consent-allow');
        if (cat && !has(cats, cat)) cats.push(cat);
        choose('save', cats, state.services && state.services.length ? state.services : null);
      }
    });
    // Implicit submission (Enter in a field) that did not go through a button click.
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      choose((e.submitter && e.submitter.value) || 'save', checked());
    });
    document.addEventListener('keydown', function (e) {
      if (/^Esc(ape)?$/.test(e.key) && !form.hidden && state.decided) hide();
    });

    scan(document);
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        list(r.addedNodes).forEach(function (n) { if (n.nodeType === 1) scan(n); });
      });
    }).observe(document.documentElement, { childList: true, subtree: true });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
